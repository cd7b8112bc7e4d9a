package signer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// The protocol, line based with binary payloads (docs/signer.md):
//
//	client: apkfarm-signer 1
//	server: apkfarm-signer 1 <n>
//	server: key <key name> <base64 of the PEM public key>      (n lines)
//	client: sign <kind> <size> <name>
//	client: <size bytes>
//	server: ok <n>
//	server: sig <algorithm> <key name> <base64 signature>      (n lines)
//	  or
//	server: error <message>
//
// A connection carries any number of requests, one at a time. The server
// answers "error" to a request it refuses and goes on; it closes the
// connection on a malformed line.

// Version is the protocol version.
const Version = 1

const hello = "apkfarm-signer"

// MaxLine bounds a protocol line.
const MaxLine = 64 << 10

// DefaultMaxBytes bounds a request's payload: an index of a large
// repository is a few megabytes compressed.
const DefaultMaxBytes = 64 << 20

// request is one parsed "sign" line.
type request struct {
	kind, name string
	size       int64
}

// parseRequest parses "sign <kind> <size> <name>".
func parseRequest(line string, max int64) (request, error) {
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "sign" || line != strings.Join(f, " ") {
		return request{}, fmt.Errorf("malformed request line %q: want \"sign <kind> <size> <name>\"", trunc(line))
	}
	r := request{kind: f[1], name: f[3]}
	if r.kind != apk.KindPackage && r.kind != apk.KindIndex {
		return request{}, fmt.Errorf("request kind %q: want %q or %q", trunc(r.kind), apk.KindPackage, apk.KindIndex)
	}
	n, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || n <= 0 || f[2] != strconv.FormatInt(n, 10) {
		return request{}, fmt.Errorf("request size %q: want a positive decimal number", trunc(f[2]))
	}
	if n > max {
		return request{}, fmt.Errorf("request of %d bytes: more than the %d allowed", n, max)
	}
	r.size = n
	if !plainName(r.name) {
		return request{}, fmt.Errorf("request name %q: want a plain file name", trunc(r.name))
	}
	return r, nil
}

// plainName accepts a file name of printable ASCII without slashes.
func plainName(s string) bool {
	if s == "" || len(s) > 255 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// readLine reads one line of at most MaxLine bytes, without its newline.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > MaxLine {
			return "", fmt.Errorf("line longer than %d bytes", MaxLine)
		}
		if err == nil {
			return string(b[:len(b)-1]), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// ServeOptions tune Serve.
type ServeOptions struct {
	// MaxBytes bounds a request's payload (default DefaultMaxBytes).
	MaxBytes int64
	// Log receives one JSON line per signature made or request refused.
	Log io.Writer
	// Now is the clock of the log (default time.Now).
	Now func() time.Time
}

// LogEntry is one line of the signer's log.
type LogEntry struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	File    string    `json:"file"`
	Name    string    `json:"name,omitempty"`
	Version string    `json:"version,omitempty"`
	Origin  string    `json:"origin,omitempty"`
	Arch    string    `json:"arch,omitempty"`
	// Packages counts an index's records.
	Packages int `json:"packages,omitempty"`
	// SHA256 is the hex SHA-256 of what was signed.
	SHA256 string   `json:"sha256"`
	Keys   []string `json:"keys,omitempty"`
	// Refused says why nothing was signed.
	Refused string `json:"refused,omitempty"`
}

// Serve answers signing requests from in on out with keys until in ends
// (nil) or a line is malformed (an error). It accepts only a package's
// control member or an unsigned index (apk.CheckSignable) of at most
// MaxBytes, and logs every signature it makes and every request it
// refuses.
func Serve(in io.Reader, out io.Writer, keys *Keys, opts ServeOptions) error {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	br := bufio.NewReaderSize(in, 64<<10)
	bw := bufio.NewWriter(out)
	line, err := readLine(br)
	if err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	if line != fmt.Sprintf("%s %d", hello, Version) {
		fmt.Fprintf(bw, "error want %q\n", fmt.Sprintf("%s %d", hello, Version))
		bw.Flush()
		return fmt.Errorf("hello %q: want %q", trunc(line), fmt.Sprintf("%s %d", hello, Version))
	}
	pubs := keys.PublicKeys()
	fmt.Fprintf(bw, "%s %d %d\n", hello, Version, len(pubs))
	for _, pk := range pubs {
		fmt.Fprintf(bw, "key %s %s\n", pk.Name, base64.StdEncoding.EncodeToString(apk.MarshalPublicKey(pk.Key)))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	logLine := func(e LogEntry) {
		if opts.Log == nil {
			return
		}
		e.Time = opts.Now().UTC()
		b, _ := json.Marshal(e)
		opts.Log.Write(append(b, '\n'))
	}
	payload := make([]byte, 0, 64<<10)
	for {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read request: %w", err)
		}
		req, err := parseRequest(line, opts.MaxBytes)
		if err != nil {
			fmt.Fprintf(bw, "error %s\n", oneLine(err.Error()))
			bw.Flush()
			return err
		}
		if int64(cap(payload)) < req.size {
			payload = make([]byte, req.size)
		}
		payload = payload[:req.size]
		if _, err := io.ReadFull(br, payload); err != nil {
			return fmt.Errorf("read %s %q: %w", req.kind, req.name, err)
		}
		sum := sha256.Sum256(payload)
		entry := LogEntry{Kind: req.kind, File: req.name, SHA256: hex.EncodeToString(sum[:])}
		info, err := apk.CheckSignable(req.kind, payload)
		if err != nil {
			entry.Refused = err.Error()
			logLine(entry)
			fmt.Fprintf(bw, "error refused: %s\n", oneLine(err.Error()))
			if err := bw.Flush(); err != nil {
				return err
			}
			continue
		}
		entry.Name, entry.Version, entry.Origin, entry.Arch, entry.Packages = info.Name, info.Version, info.Origin, info.Arch, info.Packages
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "ok %d\n", len(keys.signers))
		for _, s := range keys.signers {
			sig, err := s.Detached(payload)
			if err != nil {
				return err
			}
			entry.Keys = append(entry.Keys, sig.KeyName)
			fmt.Fprintf(&buf, "sig %s %s %s\n", sig.Algorithm, sig.KeyName, base64.StdEncoding.EncodeToString(sig.Value))
		}
		logLine(entry)
		bw.Write(buf.Bytes())
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// oneLine makes s fit on one protocol line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// conn is the client side of one connection.
type conn struct {
	br   *bufio.Reader
	w    io.Writer
	keys []PublicKey
}

// handshake sends the hello and reads the keys.
func handshake(r io.Reader, w io.Writer) (*conn, error) {
	c := &conn{br: bufio.NewReaderSize(r, 64<<10), w: w}
	if _, err := fmt.Fprintf(w, "%s %d\n", hello, Version); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	line, err := readLine(c.br)
	if err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != hello || f[1] != strconv.Itoa(Version) {
		return nil, fmt.Errorf("hello answered %q: want %q", trunc(line), fmt.Sprintf("%s %d <keys>", hello, Version))
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || n < 1 || n > 16 {
		return nil, fmt.Errorf("hello answered %q: want 1 to 16 keys", trunc(line))
	}
	for range n {
		line, err := readLine(c.br)
		if err != nil {
			return nil, fmt.Errorf("read keys: %w", err)
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "key" || !plainName(f[1]) {
			return nil, fmt.Errorf("key line %q: want \"key <name> <base64 PEM>\"", trunc(line))
		}
		pem, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", f[1], err)
		}
		pub, err := apk.ParsePublicKey(pem, f[1])
		if err != nil {
			return nil, err
		}
		c.keys = append(c.keys, PublicKey{Name: f[1], Key: pub})
	}
	return c, nil
}

// sign sends one request and reads its answer. A refusal is an error
// wrapping errRefused; the connection stays usable after it. Any other
// error leaves the connection unusable.
func (c *conn) sign(kind, name string, signed []byte) ([]apk.Signature, error) {
	if !plainName(name) {
		name = "file"
	}
	if _, err := fmt.Fprintf(c.w, "sign %s %d %s\n", kind, len(signed), name); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	if _, err := c.w.Write(signed); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	line, err := readLine(c.br)
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return nil, fmt.Errorf("%w: %s", errRefused, msg)
	}
	f := strings.Fields(line)
	n := -1
	if len(f) == 2 && f[0] == "ok" {
		n, _ = strconv.Atoi(f[1])
	}
	if n != len(c.keys) {
		return nil, fmt.Errorf("answer %q: want \"ok %d\" or \"error <message>\"", trunc(line), len(c.keys))
	}
	sigs := make([]apk.Signature, 0, n)
	for range n {
		line, err := readLine(c.br)
		if err != nil {
			return nil, fmt.Errorf("read signature: %w", err)
		}
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "sig" {
			return nil, fmt.Errorf("signature line %q: want \"sig <type> <key> <base64>\"", trunc(line))
		}
		v, err := base64.StdEncoding.DecodeString(f[3])
		if err != nil {
			return nil, fmt.Errorf("signature line: %w", err)
		}
		sigs = append(sigs, apk.Signature{Algorithm: apk.Algorithm(f[1]), KeyName: f[2], Value: v})
	}
	return sigs, nil
}

var errRefused = errors.New("signer refused")

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
