// Package mmid makes Mattermost-style ids: 26 characters of Mattermost's
// base-32 alphabet from 130 random bits. User ids and session tokens of the
// test kit and the example server are made by New, from crypto/rand;
// request ids, which are not secrets and are made for every request a flood
// sends, by NewRequestID.
package mmid

import (
	"crypto/rand"
	randv2 "math/rand/v2"
)

const alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

// New returns a new id from crypto/rand, for ids that must not be guessed.
// 256 is a multiple of 32, so b%32 is uniform.
func New() string {
	var b [26]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	return string(b[:])
}

// NewRequestID returns a new id from math/rand/v2's runtime generator
// (ChaCha8 per thread, seeded by the OS): unique and unpredictable enough to
// correlate logs, without a system call. Never use it for a secret.
func NewRequestID() string {
	var b [26]byte
	r := [3]uint64{randv2.Uint64(), randv2.Uint64(), randv2.Uint64()}
	for i := range b { // 12 characters of 5 bits from each of r[0] and r[1], 2 from r[2]
		w := i / 12
		b[i] = alphabet[r[w]&31]
		r[w] >>= 5
	}
	return string(b[:])
}
