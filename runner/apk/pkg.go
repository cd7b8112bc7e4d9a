package apk

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
)

// PkgInfo is the content of a package's .PKGINFO, the "key = value" file
// abuild writes at the top of the control member.
type PkgInfo struct {
	Name             string   // pkgname
	Version          string   // pkgver
	Description      string   // pkgdesc
	URL              string   // url
	BuildDate        int64    // builddate: unix seconds
	Packager         string   // packager
	Size             int64    // size: installed size in bytes
	Arch             string   // arch
	Origin           string   // origin
	Commit           string   // commit
	Maintainer       string   // maintainer
	ReplacesPriority string   // replaces_priority, as text
	ProviderPriority string   // provider_priority, as text
	License          string   // license
	Replaces         []string // replaces: one line per entry
	Depends          []string // depend: one line per entry
	Provides         []string // provides: one line per entry
	InstallIf        []string // install_if: one space-separated line
	Triggers         []string // triggers: one space-separated line of paths
	DataHash         string   // datahash: hex SHA-256 of the data member
	// Extra holds unknown keys in the order they were read.
	Extra []InfoField
}

// InfoField is one unknown "key = value" line of a .PKGINFO.
type InfoField struct {
	Key, Value string
}

// ParsePkgInfo reads .PKGINFO text. name is used in errors, with the line
// number. Comment lines (#) and blank lines are skipped; list keys may occur
// any number of times, each line holding one or more space-separated values;
// for the other known keys the last line wins, as in apk.
func ParsePkgInfo(b []byte, name string) (*PkgInfo, error) {
	info := &PkgInfo{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), MaxIndexLine)
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, " = ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: malformed line %q: want \"key = value\"", name, line, indexTrim([]byte(l)))
		}
		if err := info.set(k, v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, MaxIndexLine)
		}
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if info.Name == "" {
		return nil, fmt.Errorf("%s: no pkgname", name)
	}
	return info, nil
}

func (info *PkgInfo) set(k, v string) error {
	var err error
	num := func(s string) int64 {
		n, e := strconv.ParseInt(s, 10, 64)
		if e != nil || n < 0 {
			err = fmt.Errorf("%s: %q is not a non-negative integer", k, s)
		}
		return n
	}
	switch k {
	case "pkgname":
		info.Name = v
	case "pkgver":
		info.Version = v
	case "pkgdesc":
		info.Description = v
	case "url":
		info.URL = v
	case "builddate":
		info.BuildDate = num(v)
	case "packager":
		info.Packager = v
	case "size":
		info.Size = num(v)
	case "arch":
		info.Arch = v
	case "origin":
		info.Origin = v
	case "commit":
		info.Commit = v
	case "maintainer":
		info.Maintainer = v
	case "replaces_priority":
		num(v)
		info.ReplacesPriority = v
	case "provider_priority":
		num(v)
		info.ProviderPriority = v
	case "license":
		info.License = v
	case "replaces":
		info.Replaces = append(info.Replaces, strings.Fields(v)...)
	case "depend":
		info.Depends = append(info.Depends, strings.Fields(v)...)
	case "provides":
		info.Provides = append(info.Provides, strings.Fields(v)...)
	case "install_if":
		info.InstallIf = append(info.InstallIf, strings.Fields(v)...)
	case "triggers":
		info.Triggers = append(info.Triggers, strings.Fields(v)...)
	case "datahash":
		info.DataHash = v
	default:
		info.Extra = append(info.Extra, InfoField{Key: k, Value: v})
	}
	return err
}

// Marshal returns the .PKGINFO text in the order abuild writes it. Empty
// optional keys are left out; pkgname, pkgver, pkgdesc, url, builddate,
// packager, size, arch and license are always written.
func (info *PkgInfo) Marshal() []byte {
	var b bytes.Buffer
	kv := func(k, v string) {
		b.WriteString(k)
		b.WriteString(" = ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	opt := func(k, v string) {
		if v != "" {
			kv(k, v)
		}
	}
	kv("pkgname", info.Name)
	kv("pkgver", info.Version)
	kv("pkgdesc", info.Description)
	kv("url", info.URL)
	kv("builddate", strconv.FormatInt(info.BuildDate, 10))
	kv("packager", info.Packager)
	kv("size", strconv.FormatInt(info.Size, 10))
	kv("arch", info.Arch)
	opt("origin", info.Origin)
	opt("commit", info.Commit)
	opt("maintainer", info.Maintainer)
	opt("replaces_priority", info.ReplacesPriority)
	opt("provider_priority", info.ProviderPriority)
	kv("license", info.License)
	for _, v := range info.Replaces {
		kv("replaces", v)
	}
	for _, v := range info.Depends {
		kv("depend", v)
	}
	for _, v := range info.Provides {
		kv("provides", v)
	}
	opt("triggers", strings.Join(info.Triggers, " "))
	opt("install_if", strings.Join(info.InstallIf, " "))
	for _, f := range info.Extra {
		kv(f.Key, f.Value)
	}
	opt("datahash", info.DataHash)
	return b.Bytes()
}

// PackageFile is one parsed .apk file.
type PackageFile struct {
	Name string // file name, for errors
	Size int64  // file size in bytes
	// Signature is the raw gzip member of the first signature, nil for
	// an unsigned package; Control is the raw control member. Both are
	// bounded by Limits.Control.
	Signature []byte
	Control   []byte
	// ControlOffset and DataOffset are where the control and the data
	// members start in the file; the data member runs to its end.
	ControlOffset, DataOffset int64
	// SignatureName is the .SIGN.* entry name when signed.
	SignatureName string
	Info          *PkgInfo
	// Scripts holds the control member's other entries (.pre-install,
	// .post-upgrade, .trigger, ...) by name.
	Scripts map[string][]byte
	// Files lists the data member's entries in order, without content.
	Files []PackageEntry

	src io.ReaderAt // the file, for ReadFile
}

// PackageEntry describes one entry of the data member.
type PackageEntry struct {
	Name     string
	Typeflag byte
	Mode     int64 // permission bits
	Size     int64
	Link     string // link target for symlinks and hard links
	SHA1     string // the APK-TOOLS.checksum.SHA1 PAX record, hex
}

// ReadPackageFile is ReadPackage on a package in memory, with the
// default limits.
func ReadPackageFile(b []byte, name string) (*PackageFile, error) {
	return ReadPackage(bytes.NewReader(b), int64(len(b)), name, Limits{})
}

// ReadPackage parses the .apk of size bytes that r holds: optional
// signature members, the control member (.PKGINFO and install scripts) and
// the data member. It checks the layout, every tar path (absolute paths
// and ".." are rejected), each regular file against its
// APK-TOOLS.checksum.SHA1 record and the data member against the datahash
// of .PKGINFO. It does not verify the signature (Keyring.ReadPackage
// does). name is used in errors.
//
// Only the signature and control members are held in memory, each capped
// by lim.Control; the data member is streamed (inflating at most lim.Data
// bytes) and its listing capped by lim.Listing. ReadFile reads from r
// again, so r must stay open for it.
func ReadPackage(r io.ReaderAt, size int64, name string, lim Limits) (*PackageFile, error) {
	pf, err := readPackage(&source{r, size}, lim.withDefaults(), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("read package %q: %w", name, err)
	}
	pf.Name = name
	return pf, nil
}

// readPackage reads a package whose head is h (nil: read it here). With
// keys, the signature is checked on the control member's compressed
// bytes, and the data member's against the datahash, before the data is
// inflated.
func readPackage(src *source, lim Limits, keys *Keyring, h *head) (*PackageFile, error) {
	if h == nil {
		var err error
		h, err = src.readHead(lim, false)
		if errors.Is(err, errOnlySignatures) {
			return nil, errors.New("no control member after the signature")
		}
		if err != nil {
			return nil, err
		}
	}
	pf := &PackageFile{Size: src.size, Scripts: map[string][]byte{}, src: src.r}
	if len(h.sigs) > 0 {
		pf.Signature, pf.SignatureName = h.sigRaw, h.sigs[0].entry
	}
	ctlN := len(h.sigs) + 1
	pf.ControlOffset = h.bodyStart
	ctl, ctlEnd, err := src.inflateAll(pf.ControlOffset, ctlN, lim.Control, "control member")
	if err != nil {
		return nil, err
	}
	if pf.Control, err = src.section(pf.ControlOffset, ctlEnd); err != nil {
		return nil, err
	}
	pf.DataOffset = ctlEnd
	if ctlEnd == src.size {
		return nil, fmt.Errorf("no data member after the control member at offset %d", pf.ControlOffset)
	}
	if err := pf.readControl(ctl); err != nil {
		return nil, fmt.Errorf("control member at offset %d: %w", pf.ControlOffset, err)
	}
	if keys != nil {
		if err := keys.checkPackage(src, h.sigs, pf); err != nil {
			return nil, err
		}
	}
	if err := pf.readData(src, lim, ctlN+1, keys == nil); err != nil {
		return nil, err
	}
	return pf, nil
}

// readControl reads the inflated control member.
func (pf *PackageFile) readControl(ctl []byte) error {
	items, err := tarReadAll(bytes.NewReader(ctl), func(string) bool { return true })
	if err != nil {
		return err
	}
	for _, it := range items {
		h := it.Header
		if h.Name == ".PKGINFO" {
			if pf.Info != nil {
				return errors.New("two .PKGINFO entries")
			}
			if pf.Info, err = ParsePkgInfo(it.Data, ".PKGINFO"); err != nil {
				return err
			}
			continue
		}
		if strings.Contains(h.Name, "/") || !strings.HasPrefix(h.Name, ".") {
			return fmt.Errorf("entry %q: control entries are dot files at the top level", h.Name)
		}
		pf.Scripts[h.Name] = it.Data
	}
	if pf.Info == nil {
		return errors.New("no .PKGINFO")
	}
	if d := pf.Info.DataHash; d != "" {
		if h, err := hex.DecodeString(d); err != nil || len(h) != sha256.Size {
			return fmt.Errorf(".PKGINFO: datahash %q is not a SHA-256 in hex", d)
		}
	}
	return nil
}

// readData streams the data member (the file's member n) through the tar
// walk, and, when hash is set, through SHA-256 for the datahash.
func (pf *PackageFile) readData(src *source, lim Limits, n int, check bool) error {
	var h256 hash.Hash
	if check && pf.Info.DataHash != "" {
		h256 = sha256.New()
	}
	g, err := src.stream(pf.DataOffset, n, 0, "data member", h256, false)
	if err != nil {
		return err
	}
	data := &capReader{r: g, b: newBudget(lim.Data, "data member")}
	files, walkErr := readDataEntries(data, newBudget(lim.Listing, "file list of the data member"))
	var me *memberError
	if errors.As(walkErr, &me) {
		return me
	}
	// Read the member to its end: the gzip checksum, and what the tar
	// walk left (its end blocks, or what follows a broken entry).
	if _, err := io.Copy(io.Discard, data); err != nil {
		if errors.As(err, &me) {
			return me
		}
		return fmt.Errorf("data member at offset %d: %w", pf.DataOffset, err)
	}
	if end := g.pos(); end != src.size {
		if _, err := src.stream(end, n+1, 0, "", nil, false); err != nil {
			return err
		}
		return &memberError{n + 1, end, errors.New("unexpected member after control and data")}
	}
	if h256 != nil {
		if err := g.drain(); err != nil {
			return err
		}
		if got := hex.EncodeToString(h256.Sum(nil)); !strings.EqualFold(got, pf.Info.DataHash) {
			return fmt.Errorf("data member at offset %d: %w: .PKGINFO says %s, the member's SHA-256 is %s", pf.DataOffset, ErrDataHash, pf.Info.DataHash, got)
		}
	}
	if walkErr != nil {
		return fmt.Errorf("data member at offset %d: %w", pf.DataOffset, walkErr)
	}
	pf.Files = files
	return nil
}

// readDataEntries lists the data tar and checks each regular file and
// symlink against its SHA-1 PAX record where there is one, hashing the
// content as it streams by. Each entry is charged to list.
func readDataEntries(data io.Reader, list *budget) ([]PackageEntry, error) {
	var out []PackageEntry
	h1 := sha1.New()
	err := tarWalk(data, func(h *tar.Header, body io.Reader) error {
		e := PackageEntry{Name: h.Name, Typeflag: h.Typeflag, Mode: h.Mode & 0o7777, Size: h.Size,
			Link: h.Linkname, SHA1: h.PAXRecords[tarChecksumKey]}
		if err := list.take(int64(len(e.Name)+len(e.Link)+len(e.SHA1)) + 128); err != nil {
			return err
		}
		h1.Reset()
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeCont:
			if _, err := io.Copy(h1, body); err != nil {
				return err
			}
		case tar.TypeSymlink:
			h1.Write([]byte(h.Linkname))
		default:
			out = append(out, e)
			return nil
		}
		if e.SHA1 != "" {
			if got := hex.EncodeToString(h1.Sum(nil)); !strings.EqualFold(got, e.SHA1) {
				return fmt.Errorf("content SHA-1 is %s, its %s record says %s", got, tarChecksumKey, e.SHA1)
			}
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// Checksum returns the package's identity as apk writes it in C: "Q1" and
// the base64 SHA-1 of the raw control member.
func (pf *PackageFile) Checksum() string {
	return controlChecksum(pf.Control)
}

func controlChecksum(control []byte) string {
	sum := sha1.Sum(control)
	return "Q1" + base64.StdEncoding.EncodeToString(sum[:])
}

// IndexEntry returns the APKINDEX record apk index makes of this file: S is
// the file size, I the .PKGINFO size, C the control checksum.
func (pf *PackageFile) IndexEntry() *Package {
	in := pf.Info
	return &Package{
		Checksum:         pf.Checksum(),
		Name:             in.Name,
		Version:          in.Version,
		Arch:             in.Arch,
		Size:             pf.Size,
		InstalledSize:    in.Size,
		Description:      in.Description,
		URL:              in.URL,
		License:          in.License,
		Origin:           in.Origin,
		Maintainer:       in.Maintainer,
		BuildTime:        in.BuildDate,
		Commit:           in.Commit,
		ProviderPriority: in.ProviderPriority,
		Depends:          slices.Clone(in.Depends),
		Provides:         slices.Clone(in.Provides),
		InstallIf:        slices.Clone(in.InstallIf),
	}
}

// maxReadFile bounds what PackageFile.ReadFile returns.
const maxReadFile = 64 << 20

// ReadFile returns the content of the regular file name (a path inside the
// package, without a leading "/", as in Files) from the data member, read
// again from the file the package was read from. A file larger than 64 MiB
// is refused.
func (p *PackageFile) ReadFile(name string) ([]byte, error) {
	content, err := p.readFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", name, p.Name, err)
	}
	return content, nil
}

func (p *PackageFile) readFile(name string) ([]byte, error) {
	src := &source{p.src, p.Size}
	g, err := src.stream(p.DataOffset, 0, 0, "", nil, false)
	if err != nil {
		return nil, err
	}
	var content []byte
	found := false
	err = tarWalk(&capReader{r: g, b: newBudget(DefaultLimits.Data, "data member")}, func(h *tar.Header, body io.Reader) error {
		if found || h.Name != name || h.Typeflag != tar.TypeReg {
			return nil
		}
		found = true
		var b bytes.Buffer
		if _, err := b.ReadFrom(&capReader{r: body, b: newBudget(maxReadFile, "file "+name)}); err != nil {
			return err
		}
		content = b.Bytes()
		return nil
	})
	if err != nil {
		return nil, asMemberError(err)
	}
	if !found {
		return nil, errors.New("no such regular file in the package")
	}
	return content, nil
}
