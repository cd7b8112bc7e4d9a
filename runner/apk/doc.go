// Package apk reads and writes the formats of apk-tools 2.x: version strings
// and their order, APKINDEX records and index archives, .apk packages (the
// concatenated gzip members: signature, control, data), and the RSA
// signatures over them.
//
// It depends on the standard library and github.com/klauspost/compress only,
// so that every other part of apkfarm (and tools outside it) can use it.
// Everything it writes is checked in tests by the real apk-tools 2.14 client.
package apk
