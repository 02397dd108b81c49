/* kassert: invariant checks that stay on in every build. A failed KASSERT
 * is a bug in konvert, never a reaction to client input. */
#ifndef KONVERT_CORE_KASSERT_H
#define KONVERT_CORE_KASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define KASSERT(expr)                                                        \
	do {                                                                 \
		if (!(expr)) {                                               \
			fprintf(stderr, "konvert: assertion failed: %s "    \
				"(%s:%d)\n", #expr, __FILE__, __LINE__);     \
			abort();                                             \
		}                                                            \
	} while (0)

#endif
