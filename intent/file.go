package intent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// The intent file is the one source of truth for the intent: the
// controller reads it at start and on every change, `flowgate diff`
// compiles it, and the API's PUT writes to it. When it is a symlink (a
// Kubernetes ConfigMap mounts intent.yaml -> ..data/intent.yaml), the
// symlink is followed for reading and writing alike and is never replaced
// by a regular file, so whoever updates the link's target stays in charge.

// ReadFile reads the intent document at path, following symlinks. It
// refuses anything but a regular file without blocking (a FIFO would
// hang the reader until someone writes to it; a device never ends) and a
// file larger than MaxDocumentBytes.
func ReadFile(path string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer. It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file (or a symlink to one); refusing to read it", path, fileKind(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes, the limit for an intent document", path, MaxDocumentBytes)
	}
	return data, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "a special file (" + m.Type().String() + ")"
}

// Source names where the intent comes from for status and diff output:
// "file:PATH" (absolute), with " -> TARGET" when PATH is a symlink.
func Source(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	s := "file:" + path
	if target, err := filepath.EvalSymlinks(path); err == nil && target != path {
		s += " -> " + target
	}
	return s
}

// ErrReadOnly is wrapped by CheckWritable when the intent file may not be
// written: the API then refuses a PUT instead of applying a document that
// the file would take back.
var ErrReadOnly = errors.New("read-only")

// CheckWritable resolves path through its symlinks and reports whether
// WriteFile can replace the document there. It returns the target, and an
// error wrapping ErrReadOnly when the target has no write permission bits
// (a file made read-only on purpose) or lies on a read-only file system
// (a ConfigMap volume).
func CheckWritable(path string) (string, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(target)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is %s, not a regular file", target, fileKind(fi.Mode()))
	}
	if fi.Mode().Perm()&0o222 == 0 {
		return target, fmt.Errorf("%s is %w (mode %04o)", target, ErrReadOnly, fi.Mode().Perm())
	}
	dir := filepath.Dir(target)
	if err := unix.Access(dir, unix.W_OK); err != nil {
		if errors.Is(err, unix.EROFS) {
			return target, fmt.Errorf("%s is %w (read-only file system)", target, ErrReadOnly)
		}
		return target, fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	return target, nil
}

// WriteFile replaces the document at path with data: through its
// symlinks, by renaming a temporary file in the target's own directory,
// so that the symlinks stay and no reader ever sees half a document. The
// target keeps its permission bits.
func WriteFile(path string, data []byte) error {
	target, err := CheckWritable(path)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".flowgate-intent-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}
