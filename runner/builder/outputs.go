package builder

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
)

// maxPackageBytes bounds one .apk read back from a build.
const maxPackageBytes = 4 << 30

func baseName(p string) string { return filepath.Base(filepath.Clean(p)) }

// aportGuestDir is where the job's aport directory is inside the sandbox.
func aportGuestDir(j *Job) string {
	return path.Join(guestAports, j.repo(), baseName(j.Dir))
}

// tarDirs writes directory entries for dirs (absolute guest paths) and their
// parents, each once.
func tarDirs(tw *tar.Writer, done map[string]bool, dirs ...string) error {
	for _, d := range dirs {
		rel := strings.TrimPrefix(path.Clean(d), "/")
		var parts []string
		for _, p := range strings.Split(rel, "/") {
			parts = append(parts, p)
			name := strings.Join(parts, "/") + "/"
			if done[name] {
				continue
			}
			done[name] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAportTar writes the tar CopyIn unpacks at "/": the working
// directories and a copy of the job's aport directory.
func writeAportTar(w io.Writer, j *Job) error {
	tw := tar.NewWriter(w)
	guest := strings.TrimPrefix(aportGuestDir(j), "/")
	done := map[string]bool{}
	if err := tarDirs(tw, done, guestRepoDest, guestSrcDest, "/"+guest); err != nil {
		return err
	}
	root := filepath.Clean(j.Dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch fi.Mode().Type() {
		case 0, fs.ModeDir:
		case fs.ModeSymlink:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return nil // sockets, devices: not part of an aport
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = guest + "/" + filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("copy aport %s: %w", j.Dir, err)
	}
	return tw.Close()
}

// writeKeysTar writes the tar CopyIn unpacks at "/": the public keys in
// /etc/apk/keys, so that apk trusts the repositories they sign.
func writeKeysTar(w io.Writer, keys map[string][]byte) error {
	tw := tar.NewWriter(w)
	if err := tarDirs(tw, map[string]bool{}, "/etc/apk/keys"); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(keys)) {
		if !safeName(name) {
			return fmt.Errorf("key name %q: not a plain file name", name)
		}
		b := keys[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/apk/keys/" + name, Mode: 0o644,
			Size: int64(len(b)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return tw.Close()
}

// localPkg is a package this run built and staged, offered to later builds.
type localPkg struct {
	file  string // absolute path in staging
	entry *apk.Package
}

// writeLocalRepoTar writes the tar CopyIn unpacks at "/": an apk repository
// at guestLocal/<arch>/ holding pkgs and their unsigned APKINDEX.tar.gz,
// where noarch packages are listed with arch.
func writeLocalRepoTar(w io.Writer, arch string, pkgs []localPkg) error {
	tw := tar.NewWriter(w)
	dir := path.Join(guestLocal, arch)
	if err := tarDirs(tw, map[string]bool{}, dir); err != nil {
		return err
	}
	idx := &apk.Index{Description: "apkfarm: packages built earlier in this run"}
	for _, p := range pkgs {
		e := p.entry
		if e.Arch == "noarch" {
			// Listed under the repository's arch, as abuild's
			// `apk index --rewrite-arch` lists noarch packages.
			c := *e
			c.Arch = arch
			e = &c
		}
		idx.Packages = append(idx.Packages, e)
		f, err := os.Open(p.file)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dir, "/") + "/" + filepath.Base(p.file),
				Mode: 0o644, Size: st.Size(), ModTime: st.ModTime()})
		}
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	var ib bytes.Buffer
	if err := apk.WriteIndexArchive(&ib, idx); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dir, "/") + "/APKINDEX.tar.gz",
		Mode: 0o644, Size: int64(ib.Len()), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := tw.Write(ib.Bytes()); err != nil {
		return err
	}
	return tw.Close()
}

// output is one accepted package of a build.
type output struct {
	file string // name in $REPODEST
	data []byte
	pf   *apk.PackageFile
}

// checkOutputs reads the tar of $REPODEST and checks the .apk files in it
// against the job: each must be a valid apk, and every expected package must
// be there once with the job's version and arch (or noarch). It returns the
// accepted packages, the unexpected ones (by file name, not staged) and what
// is wrong with the build. err is for a tar stream that cannot be read.
func checkOutputs(j *Job, r io.Reader) (accepted []output, ignored, problems []string, err error) {
	want := map[string]bool{}
	for _, p := range j.Packages {
		want[p] = true
	}
	got := map[string]string{} // package name -> file
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read build output: %w", err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".apk") {
			continue
		}
		file := path.Base(h.Name)
		if h.Size > maxPackageBytes {
			problems = append(problems, fmt.Sprintf("%s: %d bytes, larger than the %d bytes allowed", file, h.Size, int64(maxPackageBytes)))
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read build output %s: %w", file, err)
		}
		pf, err := apk.ReadPackageFile(b, file)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: not a valid apk: %v", file, err))
			continue
		}
		in := pf.Info
		if !want[in.Name] {
			ignored = append(ignored, file)
			continue
		}
		if prev, dup := got[in.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s: package %q already in %s", file, in.Name, prev))
			continue
		}
		got[in.Name] = file
		if in.Version != j.Version {
			problems = append(problems, fmt.Sprintf("%s: package %q has version %q, the APKBUILD says %q", file, in.Name, in.Version, j.Version))
			continue
		}
		if in.Arch != j.Arch && in.Arch != "noarch" {
			problems = append(problems, fmt.Sprintf("%s: package %q has arch %q, built for %q", file, in.Name, in.Arch, j.Arch))
			continue
		}
		accepted = append(accepted, output{file: file, data: b, pf: pf})
	}
	for _, p := range j.Packages {
		if got[p] == "" {
			problems = append(problems, fmt.Sprintf("expected package %q is missing from $REPODEST", p))
		}
	}
	slices.Sort(ignored)
	return accepted, ignored, problems, nil
}

// stage writes the accepted packages to <stateDir>/staging/<arch>/ as
// <name>-<version>.apk and returns their paths relative to stateDir and
// as local packages.
func stage(stateDir, arch string, outs []output) (rel []string, local []localPkg, err error) {
	dir := filepath.Join(stateDir, "staging", arch)
	for _, o := range outs {
		name := o.pf.Info.Name + "-" + o.pf.Info.Version + ".apk"
		p := filepath.Join(dir, name)
		if err := safefile.Write(p, o.data, 0o644); err != nil {
			return nil, nil, fmt.Errorf("stage %s: %w", name, err)
		}
		rel = append(rel, filepath.ToSlash(filepath.Join("staging", arch, name)))
		local = append(local, localPkg{file: p, entry: o.pf.IndexEntry()})
	}
	return rel, local, nil
}
