// Command fakeabuild is a stand-in for abuild in the tests with real
// containers (runner/builder, cmd/run) and in `make demo`. internal/standin
// builds it static (CGO_ENABLED=0) for each arch and adds it to the Alpine
// minirootfs as /usr/bin/abuild, with /usr/bin/abuild-keygen a link to it,
// so that the runner's default prepare and build commands run unchanged.
//
// It does what the fixtures need, the way abuild does it: the APKBUILD is
// sourced by the image's /bin/sh (busybox ash), its functions run in order
// (prepare, build, check unless options has !check, package, then each
// subpackage's split function with $subpkgdir) with abuild's variables set
// (startdir, srcdir, pkgdir, subpkgdir, CARCH), and every package is packed
// into a real .apk by the project's own writer (runner/apk), in
// $REPODEST/<repo>/<CARCH>/ where <repo> is the aport's parent directory
// name. It does not sign, resolve shared-library dependencies or write an
// APKINDEX: the runner does not need them.
//
// Usage, as abuild: abuild [-F] [-d] [-m] [-K] [-r] [-s SRCDEST] [-P REPODEST] [ACTION...]
// with ACTION fetch, verify (sources are fetched over HTTP(S) into SRCDEST)
// or all/build/rootpkg/package (the whole build; the default).
package main

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
)

func main() {
	if filepath.Base(os.Args[0]) == "abuild-keygen" {
		os.Exit(keygen())
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, ">>> ERROR: %s: %v\n", os.Getenv("PKGNAME"), err)
		os.Exit(1)
	}
}

// keygen writes the abuild.conf a real abuild-keygen -a would, without a key:
// the stand-in does not sign.
func keygen() int {
	dir := filepath.Join(os.Getenv("HOME"), ".abuild")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "abuild.conf"), []byte("# stand-in: packages are not signed\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type opts struct {
	srcdest, repodest string
	actions           []string
}

func parseArgs(args []string) (opts, error) {
	o := opts{srcdest: os.Getenv("SRCDEST"), repodest: os.Getenv("REPODEST")}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-F", "-d", "-m", "-K", "-r", "-f", "-k":
		case "-s", "-P":
			if i+1 >= len(args) {
				return o, fmt.Errorf("%s needs an argument", a)
			}
			i++
			if a == "-s" {
				o.srcdest = args[i]
			} else {
				o.repodest = args[i]
			}
		default:
			if strings.HasPrefix(a, "-") {
				return o, fmt.Errorf("unknown option %s", a)
			}
			o.actions = append(o.actions, a)
		}
	}
	if len(o.actions) == 0 {
		o.actions = []string{"all"}
	}
	if o.srcdest == "" {
		o.srcdest = "/var/cache/distfiles"
	}
	if o.repodest == "" {
		o.repodest = filepath.Join(os.Getenv("HOME"), "packages")
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	startdir, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(startdir, "APKBUILD")); err != nil {
		return errors.New("no APKBUILD in the current directory")
	}
	built := false
	for _, a := range o.actions {
		switch a {
		case "fetch", "verify", "sanitycheck", "deps", "builddeps", "unpack", "clean":
			if a == "fetch" {
				if err := fetch(startdir, o.srcdest); err != nil {
					return err
				}
			}
			if a == "verify" {
				if err := verify(startdir, o.srcdest); err != nil {
					return err
				}
			}
		case "all", "build", "rootpkg", "package":
			if !built {
				if err := buildAll(startdir, o); err != nil {
					return err
				}
				built = true
			}
		default:
			return fmt.Errorf("unsupported action %q", a)
		}
	}
	return nil
}

// meta is what the APKBUILD declares, as the shell saw it.
type meta map[string]string

func (m meta) words(k string) []string { return strings.Fields(m[k]) }

// shellVars are printed after sourcing, one "key<TAB>value" line each.
var shellVars = []string{"pkgname", "pkgver", "pkgrel", "pkgdesc", "url", "license", "arch", "depends",
	"subpackages", "options", "source", "provides", "install_if", "sha512sums"}

func dumpVars(fd int) string {
	var b strings.Builder
	for _, v := range shellVars {
		// Records end with \036 (RS): values may hold newlines.
		fmt.Fprintf(&b, "printf '%%s\\t%%s\\036' %s \"$%s\" >&%d\n", v, v, fd)
	}
	return b.String()
}

func readMeta(b []byte) meta {
	m := meta{}
	for _, rec := range strings.Split(string(b), "\x1e") {
		rec = strings.TrimLeft(rec, "\n")
		if k, v, ok := strings.Cut(rec, "\t"); ok {
			m[k] = strings.TrimSpace(strings.ReplaceAll(v, "\n", " "))
		}
	}
	return m
}

// sh runs script in /bin/sh with fd 3 writing to a file, returning what
// was written there. The script's output goes to ours.
func sh(dir, script string, env []string) ([]byte, error) {
	f, err := os.CreateTemp("", "fakeabuild-meta-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	return os.ReadFile(f.Name())
}

func readAPKBUILD(startdir string) (meta, error) {
	out, err := sh(startdir, "set -e\n. ./APKBUILD\n"+dumpVars(3), nil)
	if err != nil {
		return nil, fmt.Errorf("source APKBUILD: %w", err)
	}
	m := readMeta(out)
	if m["pkgname"] == "" || m["pkgver"] == "" || m["pkgrel"] == "" {
		return nil, errors.New("APKBUILD lacks pkgname, pkgver or pkgrel")
	}
	return m, nil
}

func fetch(startdir, srcdest string) error {
	m, err := readAPKBUILD(startdir)
	if err != nil {
		return err
	}
	for _, s := range m.words("source") {
		name, url, ok := strings.Cut(s, "::")
		if !ok {
			url, name = s, filepath.Base(s)
		}
		if !strings.Contains(url, "://") {
			continue
		}
		dst := filepath.Join(srcdest, name)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		fmt.Fprintf(os.Stderr, ">>> %s: Fetching %s\n", m["pkgname"], url)
		if err := download(url, dst); err != nil {
			return fmt.Errorf("fetch %s: %w", url, err)
		}
	}
	return nil
}

func download(url, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	// A part file of its own: builds sharing SRCDEST may fetch the same
	// file at once; the rename makes whichever ends last win, whole.
	f, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".part-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

// verify checks every source against sha512sums, as abuild's fetch does:
// a remote file that fails is renamed to <name>.<first 8 hex digits of
// the expected sum>, so that the next build downloads it again.
func verify(startdir, srcdest string) error {
	m, err := readAPKBUILD(startdir)
	if err != nil {
		return err
	}
	sums := map[string]string{}
	f := m.words("sha512sums")
	if len(f) == 0 {
		return nil // the test fixtures without checksums (abuild would refuse them)
	}
	for i := 0; i+1 < len(f); i += 2 {
		sums[f[i+1]] = f[i]
	}
	for _, s := range m.words("source") {
		name, url, ok := strings.Cut(s, "::")
		if !ok {
			url, name = s, filepath.Base(s)
		}
		want, ok := sums[name]
		if !ok {
			return fmt.Errorf("%s is missing in checksums", name)
		}
		p := filepath.Join(startdir, url)
		remote := strings.Contains(url, "://")
		if remote {
			p = filepath.Join(srcdest, name)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got := sha512.Sum512(b)
		if hex.EncodeToString(got[:]) == want {
			fmt.Fprintf(os.Stderr, "%s: OK\n", p)
			continue
		}
		fmt.Fprintf(os.Stderr, "%s: FAILED\n", p)
		if remote && len(want) >= 8 {
			fmt.Fprintf(os.Stderr, "Renaming: %s to %s.%s\n", name, name, want[:8])
			if err := os.Rename(p, p+"."+want[:8]); err != nil {
				return err
			}
		}
		fmt.Fprintln(os.Stderr, "Use 'abuild checksum' to generate/update the checksum(s)")
		return fmt.Errorf("%s: sha512 checksum failed", name)
	}
	return nil
}

// subpackage is one "name[:func[:arch]]" entry.
type subpackage struct{ name, fn, arch string }

func parseSubpackages(m meta) []subpackage {
	var out []subpackage
	for _, w := range m.words("subpackages") {
		parts := strings.SplitN(w, ":", 3)
		sp := subpackage{name: parts[0]}
		if len(parts) > 1 {
			sp.fn = parts[1]
		}
		if len(parts) > 2 {
			sp.arch = parts[2]
		}
		if sp.fn == "" {
			sp.fn = sp.name[strings.LastIndex(sp.name, "-")+1:]
		}
		out = append(out, sp)
	}
	return out
}

func buildAll(startdir string, o opts) error {
	m, err := readAPKBUILD(startdir)
	if err != nil {
		return err
	}
	carch := os.Getenv("CARCH")
	if carch == "" {
		out, err := exec.Command("apk", "--print-arch").Output()
		if err != nil {
			return fmt.Errorf("find CARCH: %w", err)
		}
		carch = strings.TrimSpace(string(out))
	}
	srcdir := filepath.Join(startdir, "src")
	pkgbase := filepath.Join(startdir, "pkg")
	for _, d := range []string{srcdir, pkgbase} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// Sources: local files from the aport, downloads from SRCDEST.
	for _, s := range m.words("source") {
		name, url, ok := strings.Cut(s, "::")
		if !ok {
			url, name = s, filepath.Base(s)
		}
		from := filepath.Join(startdir, url)
		if strings.Contains(url, "://") {
			from = filepath.Join(o.srcdest, name)
		}
		b, err := os.ReadFile(from)
		if err != nil {
			return fmt.Errorf("source %s: %w (run abuild fetch first)", s, err)
		}
		if err := os.WriteFile(filepath.Join(srcdir, name), b, 0o644); err != nil {
			return err
		}
	}
	subs := parseSubpackages(m)
	check := "check"
	if strings.Contains(" "+m["options"]+" ", " !check ") {
		check = ""
	}
	var script strings.Builder
	script.WriteString(`set -e
. "$startdir/APKBUILD"
isfunc() { type "$1" 2>/dev/null | grep -q function; }
cd "$srcdir"
for phase in prepare build ` + check + `; do
	if isfunc "$phase"; then echo ">>> $pkgname: running $phase()" >&2; (set -e; cd "$srcdir"; "$phase"); fi
done
mkdir -p "$pkgdir"
echo ">>> $pkgname: running package()" >&2
(set -e; cd "$srcdir"; package)
`)
	for i, sp := range subs {
		fmt.Fprintf(&script, `subpkgname=%q; subpkgdir="$pkgbasedir/%s"; mkdir -p "$subpkgdir"
echo ">>> %s: running split function %s()" >&2
(set -e; depends=""; cd "$srcdir"; %s; printf 'depends\t%%s\036' "$depends" >&%d; printf 'pkgdesc\t%%s\036' "$pkgdesc" >&%d)
`, sp.name, sp.name, sp.name, sp.fn, sp.fn, 4+i, 4+i)
	}
	env := []string{"startdir=" + startdir, "srcdir=" + srcdir, "pkgbasedir=" + pkgbase,
		"pkgdir=" + filepath.Join(pkgbase, m["pkgname"]), "CARCH=" + carch, "REPODEST=" + o.repodest}
	subMeta, err := runPhases(startdir, script.String(), env, len(subs))
	if err != nil {
		return fmt.Errorf("build failed: %w", err)
	}

	version := m["pkgver"] + "-r" + m["pkgrel"]
	outDir := filepath.Join(o.repodest, filepath.Base(filepath.Dir(startdir)), carch)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	buildDate := time.Now().Unix()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			buildDate = n
		}
	}
	pkgArch := carch
	if m["arch"] == "noarch" {
		pkgArch = "noarch"
	}
	type one struct {
		name, dir, arch, desc string
		depends               []string
	}
	all := []one{{m["pkgname"], filepath.Join(pkgbase, m["pkgname"]), pkgArch, m["pkgdesc"], m.words("depends")}}
	for i, sp := range subs {
		arch := pkgArch
		if sp.arch != "" {
			arch = sp.arch
		}
		sm := readMeta(subMeta[i])
		all = append(all, one{sp.name, filepath.Join(pkgbase, sp.name), arch, sm["pkgdesc"], sm.words("depends")})
	}
	for _, p := range all {
		files, err := apk.FilesFromFS(os.DirFS(p.dir))
		if err != nil {
			return fmt.Errorf("package %s: %w", p.name, err)
		}
		spec := &apk.PackageSpec{
			Info: apk.PkgInfo{Name: p.name, Version: version, Description: p.desc, URL: m["url"],
				License: m["license"], Arch: p.arch, Origin: m["pkgname"], BuildDate: buildDate,
				Packager: "apkfarm stand-in abuild", Depends: p.depends},
			Files: files,
		}
		dst := filepath.Join(outDir, p.name+"-"+version+".apk")
		b, err := apk.MarshalPackage(spec)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, ">>> %s: wrote %s\n", p.name, dst)
	}
	return nil
}

// runPhases runs the build script with one extra descriptor per
// subpackage (fd 4, 5, ...) for the split functions' metadata.
func runPhases(dir, script string, env []string, nsub int) ([][]byte, error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// fd 3 is unused by the phases; keep the numbering simple.
	for range nsub + 1 {
		f, err := os.CreateTemp("", "fakeabuild-sub-")
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	out := make([][]byte, nsub)
	for i := range nsub {
		b, err := os.ReadFile(files[i+1].Name())
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
