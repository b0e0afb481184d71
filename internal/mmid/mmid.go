// Package mmid makes Mattermost-style ids: 26 characters of Mattermost's
// base-32 alphabet from 130 random bits. Request ids, user ids and session
// tokens of the library, its test kit and the example server are all made
// here.
package mmid

import "crypto/rand"

const alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

// New returns a new id. 256 is a multiple of 32, so b%32 is uniform.
func New() string {
	var b [26]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	for i := range b {
		b[i] = alphabet[b[i]%32]
	}
	return string(b[:])
}
