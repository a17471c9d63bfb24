// OpenSSL's P-256 from Debian's static libcrypto: its assembly keeps a 148 KiB
// precomputed table in .text whose bytes include `0f 05`. Prints the public
// keys of fixed private keys 1..N (so the output is compared with the native
// run's) and checks ECDSA signatures over them; any rewritten table byte gives
// a wrong key or a failed verification.
//   p256 [COUNT]   "verified N of N" last; exit 0 only if every one verified
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::string public_key_hex(const EC_GROUP* group, const EC_POINT* point, BN_CTX* context) {
  char* hex = EC_POINT_point2hex(group, point, POINT_CONVERSION_COMPRESSED, context);
  std::string text = hex != nullptr ? hex : "(none)";
  OPENSSL_free(hex);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 64;
  EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  BN_CTX* context = BN_CTX_new();
  if (group == nullptr || context == nullptr) return 2;
  int verified = 0;
  for (int i = 1; i <= count; ++i) {
    EC_KEY* key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM* secret = BN_new();
    EC_POINT* point = EC_POINT_new(group);
    // Private keys 1..N, each times a large odd constant: all of the table is used.
    BN_set_word(secret, static_cast<BN_ULONG>(i));
    BIGNUM* spread = nullptr;
    BN_hex2bn(&spread, "9e3779b97f4a7c15f39cc0605cedc8341082276bf3a27251f86c6a11d0c18e95");
    BN_mul(secret, secret, spread, context);
    BN_nnmod(secret, secret, EC_GROUP_get0_order(group), context);
    EC_POINT_mul(group, point, secret, nullptr, nullptr, context);
    EC_KEY_set_private_key(key, secret);
    EC_KEY_set_public_key(key, point);
    std::printf("key %d %s\n", i, public_key_hex(group, point, context).c_str());
    unsigned char digest[SHA256_DIGEST_LENGTH];
    const std::string message = "message " + std::to_string(i);
    SHA256(reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest);
    ECDSA_SIG* signature = ECDSA_do_sign(digest, sizeof(digest), key);
    if (signature != nullptr && ECDSA_do_verify(digest, sizeof(digest), signature, key) == 1) ++verified;
    ECDSA_SIG_free(signature);
    BN_free(spread);
    EC_POINT_free(point);
    BN_free(secret);
    EC_KEY_free(key);
  }
  std::printf("verified %d of %d\n", verified, count);
  BN_CTX_free(context);
  EC_GROUP_free(group);
  return verified == count ? 0 : 1;
}
