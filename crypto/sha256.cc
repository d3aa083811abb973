#include "crypto/sha256.h"

#include <cpuid.h>
#include <immintrin.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "crypto/sodium_init.h"

namespace fundledger {
namespace {

// SHA-256 is the Merkle tree's hash: every record is hashed when it is appended and again by
// every verification, with its tree nodes. libsodium's SHA-256 is portable C (about 590 cycles
// per 64-byte block); where the processor has the SHA extensions (x86 SHA-NI), the blocks are
// compressed with them instead (about 4x faster), and libsodium serves everywhere else. The
// padding around the compression is the standard's (FIPS 180-4, 5.1.1). Tests compare the two
// on many lengths and splits.

static_assert(alignof(crypto_hash_sha256_state) <= 64);
static_assert(crypto_hash_sha256_BYTES == std::tuple_size_v<Hash>);

bool DetectShaExtensions() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool ssse3 = c & bit_SSSE3, sse41 = c & bit_SSE4_1;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool sha = b & (1u << 29);  // CPUID.(EAX=7,ECX=0):EBX.SHA
  return ssse3 && sse41 && sha;
}

// Decided once, on first use (not during static initialization, which another file's
// initializers might precede).
bool ShaExtensions() {
  static const bool yes = DetectShaExtensions();
  return yes;
}

alignas(16) constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t kInitial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// Compresses `blocks` 64-byte blocks into `h` with the SHA extensions. The instructions keep
// the working variables as ABEF and CDGH; four rounds take one vector of the message schedule,
// which sha256msg1/msg2 extend four words at a time.
__attribute__((target("sha,sse4.1,ssse3"))) void CompressShaNi(uint32_t h[8], const uint8_t* data,
                                                               size_t blocks) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
  __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4));
  __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
  __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
  __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
  __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
  for (; blocks > 0; --blocks, data += 64) {
    const __m128i abef_in = abef, cdgh_in = cdgh;
    __m128i w[4];  // the schedule's last 16 words, four to a vector
    for (int g = 0; g < 16; ++g) {
      __m128i& now = w[g & 3];
      if (g < 4) {
        now = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * g)),
                               byte_swap);
      } else {
        // W[t..t+3] from W[t-16..t-13] (now), W[t-12..t-9], W[t-8..t-5] and W[t-4..t-1].
        const __m128i& w12 = w[(g + 1) & 3];
        const __m128i& w8 = w[(g + 2) & 3];
        const __m128i& w4 = w[(g + 3) & 3];
        __m128i t = _mm_sha256msg1_epu32(now, w12);
        t = _mm_add_epi32(t, _mm_alignr_epi8(w4, w8, 4));
        now = _mm_sha256msg2_epu32(t, w4);
      }
      __m128i k = _mm_add_epi32(now, _mm_load_si128(reinterpret_cast<const __m128i*>(kRound) + g));
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, k);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(k, 0x0E));
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }
  __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}

// The streaming state when the SHA extensions are used.
struct ShaNiState {
  uint32_t h[8];
  uint64_t length;  // bytes hashed so far
  uint8_t buffer[64];
};
static_assert(sizeof(ShaNiState) <= 128 && alignof(ShaNiState) <= 64);

void ShaNiInit(ShaNiState* s) {
  memcpy(s->h, kInitial, sizeof(kInitial));
  s->length = 0;
}

void ShaNiUpdate(ShaNiState* s, const uint8_t* p, size_t n) {
  // An empty span may have a null data(), which memcpy must not get even for 0 bytes.
  if (n == 0) return;
  size_t held = s->length % 64;
  s->length += n;
  if (held != 0) {
    size_t take = std::min(n, 64 - held);
    memcpy(s->buffer + held, p, take);
    p += take;
    n -= take;
    if (held + take < 64) return;
    CompressShaNi(s->h, s->buffer, 1);
  }
  if (n >= 64) {
    CompressShaNi(s->h, p, n / 64);
    p += n / 64 * 64;
    n %= 64;
  }
  memcpy(s->buffer, p, n);
}

void ShaNiFinish(ShaNiState* s, uint8_t out[32]) {
  const uint64_t bits = s->length * 8;
  size_t held = s->length % 64;
  s->buffer[held++] = 0x80;
  if (held > 56) {
    memset(s->buffer + held, 0, 64 - held);
    CompressShaNi(s->h, s->buffer, 1);
    held = 0;
  }
  memset(s->buffer + held, 0, 56 - held);
  for (int i = 0; i < 8; ++i) s->buffer[56 + i] = uint8_t(bits >> (56 - 8 * i));
  CompressShaNi(s->h, s->buffer, 1);
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = uint8_t(s->h[i] >> 24);
    out[4 * i + 1] = uint8_t(s->h[i] >> 16);
    out[4 * i + 2] = uint8_t(s->h[i] >> 8);
    out[4 * i + 3] = uint8_t(s->h[i]);
  }
}

template <typename T>
T* As(unsigned char* storage) {
  return std::launder(reinterpret_cast<T*>(storage));
}

}  // namespace

namespace internal {
bool Sha256UsesShaExtensions() { return ShaExtensions(); }
}  // namespace internal

Hash Sha256(std::span<const uint8_t> bytes) {
  Hash out;
  if (ShaExtensions()) {
    ShaNiState s;
    ShaNiInit(&s);
    ShaNiUpdate(&s, bytes.data(), bytes.size());
    ShaNiFinish(&s, out.data());
    return out;
  }
  internal::EnsureSodiumInitialized();
  crypto_hash_sha256(out.data(), bytes.data(), bytes.size());
  return out;
}

Sha256Hasher::Sha256Hasher() {
  static_assert(sizeof(state_) >= sizeof(crypto_hash_sha256_state));
  // Either state is a plain C struct: create it in the reserved storage, then fill it.
  if (ShaExtensions()) {
    ShaNiInit(new (state_) ShaNiState);
    return;
  }
  internal::EnsureSodiumInitialized();
  new (state_) crypto_hash_sha256_state;
  crypto_hash_sha256_init(As<crypto_hash_sha256_state>(state_));
}

void Sha256Hasher::Update(std::span<const uint8_t> bytes) {
  if (ShaExtensions()) {
    ShaNiUpdate(As<ShaNiState>(state_), bytes.data(), bytes.size());
    return;
  }
  crypto_hash_sha256_update(As<crypto_hash_sha256_state>(state_), bytes.data(), bytes.size());
}

Hash Sha256Hasher::Finish() {
  Hash out;
  if (ShaExtensions()) {
    ShaNiFinish(As<ShaNiState>(state_), out.data());
    return out;
  }
  crypto_hash_sha256_final(As<crypto_hash_sha256_state>(state_), out.data());
  return out;
}

}  // namespace fundledger
