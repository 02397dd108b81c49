/* limits: compiled ceilings and RFC floors for everything a client
 * controls. Config may lower a limit or raise it up to the ceiling here. */
#ifndef KONVERT_CORE_LIMITS_H
#define KONVERT_CORE_LIMITS_H

/* RFC 5321 4.5.3.1: command line 512 octets including CRLF; we allow more
 * for ESMTP parameters (RFC 1869 adds room for them), like Postfix. */
#define SMTP_CMD_LINE_MAX 2048
/* RFC 4954 4: an AUTH command with an initial response may be as long as
 * a SASL response line (12288 octets) plus "AUTH mechanism ". */
#define SMTP_AUTH_CMD_LINE_MAX (12288 + 64)
/* RFC 5321 4.5.3.1.1/2: local part 64, domain 255, path 256 octets. */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255
#define SMTP_PATH_MAX 256
/* Bad commands in a row before the session is closed. */
#define SMTP_BAD_CMDS_MAX 10
/* Upper bound for max_recipients and max_message_size config values. */
#define SMTP_RCPTS_CEILING 10000
#define SMTP_MESSAGE_SIZE_CEILING (1ULL << 31)
/* Alias expansion: maximum nesting depth and number of final targets. */
#define ALIAS_DEPTH_MAX 16
#define ALIAS_TARGETS_MAX 1000
/* Session id and message id text length (without NUL). */
#define ID_LEN 16
/* Largest line in users/aliases/config files. */
#define FILE_LINE_MAX 4096

#endif
