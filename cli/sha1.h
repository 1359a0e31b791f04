/*
 * sha1.h - SHA-1 and base64, only for the WebSocket handshake
 * (Sec-WebSocket-Accept, RFC 6455 section 4.2.2). Not for security.
 */
#ifndef RACEBOARD_CLI_SHA1_H
#define RACEBOARD_CLI_SHA1_H

#include <stddef.h>
#include <stdint.h>

/* Writes the 20-byte SHA-1 digest of data[0..len) into out. */
void cli_sha1(const void *data, size_t len, uint8_t out[20]);

/* Writes the base64 of in[0..len) into out (4*ceil(len/3)+1 bytes, NUL
 * terminated). */
void cli_base64(const uint8_t *in, size_t len, char *out);

#endif
