/* id: unique identifiers for sessions and messages.
 *
 * An id is ID_LEN characters of [0-9A-Z] (no vowels-only words matter, it is
 * just base-32 of the microsecond clock and a process-wide counter), unique
 * within a data_dir across restarts as long as the clock does not go back
 * more than the counter space. Thread-safe. */
#ifndef KONVERT_CORE_ID_H
#define KONVERT_CORE_ID_H

#include "core/limits.h"

/* Writes a new id and a NUL into out (ID_LEN + 1 bytes). */
void id_new(char out[ID_LEN + 1]);

#endif
