/* The signing library's own single-core loop: the reference bench_signing_pipeline.py
 * compares the pipeline with. Compiled at run time against the system libcrypto:
 *
 *     cc -O2 engine_sign_loop.c -lcrypto -o engine_sign_loop
 *     engine_sign_loop ALGORITHM PARAMSET SECONDS MESSAGE_OCTETS
 *
 * ALGORITHM is "ec-p256" (OpenSSL's built-in P-256 with SHA-256) or "gost2012_256" /
 * "gost2012_512" (the GOST engine, loaded with ENGINE_by_id("gost"), Streebog-256/512 on
 * gost-engine's parameter set PARAMSET). One key is made, then each signature is one
 * EVP_DigestSignInit and one EVP_DigestSign over the same message, on one reused
 * EVP_MD_CTX, for SECONDS. Prints the signatures per second on one line; on failure,
 * OpenSSL's errors on stderr and exit status 1.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* the ENGINE API: the GOST engine has no other route */
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int fail(const char *what) {
    fprintf(stderr, "engine_sign_loop: %s\n", what);
    ERR_print_errors_fp(stderr);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 5)
        return fail("usage: ALGORITHM PARAMSET SECONDS MESSAGE_OCTETS");
    const char *algorithm = argv[1], *paramset = argv[2];
    double seconds = atof(argv[3]);
    size_t length = (size_t)atol(argv[4]);
    ENGINE *engine = NULL;
    EVP_PKEY *key = NULL;
    const EVP_MD *md = NULL;
    int status = 1;

    if (strcmp(algorithm, "ec-p256") == 0) {
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        md = EVP_sha256();
    } else {
        engine = ENGINE_by_id("gost");
        if (engine == NULL || ENGINE_init(engine) != 1
            || ENGINE_set_default(engine, ENGINE_METHOD_ALL) != 1)
            return fail("cannot load OpenSSL's GOST engine");
        EVP_PKEY_CTX *keygen = EVP_PKEY_CTX_new_id(OBJ_sn2nid(algorithm), engine);
        if (keygen == NULL || EVP_PKEY_keygen_init(keygen) != 1
            || EVP_PKEY_CTX_ctrl_str(keygen, "paramset", paramset) <= 0
            || EVP_PKEY_keygen(keygen, &key) != 1)
            key = NULL;
        EVP_PKEY_CTX_free(keygen);
        const char *digest = strstr(algorithm, "512") ? "md_gost12_512" : "md_gost12_256";
        md = ENGINE_get_digest(engine, OBJ_sn2nid(digest));
    }
    unsigned char *message = malloc(length ? length : 1);
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (key == NULL || md == NULL || message == NULL || context == NULL) {
        fail("cannot make the key or the context");
        goto done;
    }
    for (size_t i = 0; i < length; i++)
        message[i] = (unsigned char)(i * 7);

    unsigned char signature[256];
    long count = 0;
    double start = now(), deadline = start + seconds, end;
    do {
        for (int i = 0; i < 64; i++, count++) {
            size_t size = sizeof signature;
            if (EVP_DigestSignInit(context, NULL, md, engine, key) != 1
                || EVP_DigestSign(context, signature, &size, message, length) != 1) {
                fail("signing failed");
                goto done;
            }
        }
    } while ((end = now()) < deadline);
    printf("%.0f\n", count / (end - start));
    status = 0;
done:
    EVP_MD_CTX_free(context);
    free(message);
    EVP_PKEY_free(key);
    if (engine != NULL) {
        ENGINE_finish(engine);
        ENGINE_free(engine);
    }
    return status;
}
