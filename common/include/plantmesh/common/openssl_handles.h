// Owning handles of the OpenSSL objects PlantMesh reads and writes (BIOs, certificates,
// keys, big numbers), each freed with its own OpenSSL function. Used by the server's TLS
// checks, the SDK's credential loading and plantctl's PKI.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace plantmesh::common {
namespace internal {
template <class T, void (*kFree)(T*)>
struct OpenSslFree {
  void operator()(T* object) const { kFree(object); }
};
}  // namespace internal

// BIO_free_all also frees a single BIO, and any BIO chained to it.
using BioPtr = std::unique_ptr<BIO, internal::OpenSslFree<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, internal::OpenSslFree<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, internal::OpenSslFree<EVP_PKEY, EVP_PKEY_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, internal::OpenSslFree<BIGNUM, BN_free>>;

}  // namespace plantmesh::common
