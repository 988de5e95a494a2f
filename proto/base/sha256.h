/* SHA-256 (FIPS 180-4), for the shim socket address containerd derives.  */
#ifndef LCOW_SHA256_H
#define LCOW_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32

void sha256 (const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);
/* Lower-case hex of the digest into out (65 bytes with the NUL).  */
void sha256_hex (const void *data, size_t len,
                 char out[2 * SHA256_DIGEST_LEN + 1]);

#endif
