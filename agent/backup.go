package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clonebot/clonebot/jobs"
)

// ObjectGetter is the one S3 call the agent makes (the SDK's own signature).
type ObjectGetter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// localBackup is a backup file on local disk, removed on Close if it was downloaded.
type localBackup struct {
	*os.File
	size   int64
	remove bool
}

func (b *localBackup) Close() error {
	err := b.File.Close()
	if b.remove {
		os.Remove(b.Name())
	}
	return err
}

// fetchBackup makes ref available as a local file: a local path is opened in place, an S3
// object is streamed to a temporary file in workDir. Size and SHA-256 are checked when ref
// states them; a mismatch is a permanent Failure (the backup is truncated or corrupt).
func fetchBackup(ctx context.Context, s3c ObjectGetter, workDir string, ref jobs.BackupRef, progress func(n int64)) (*localBackup, error) {
	if strings.HasPrefix(ref.Location, "s3://") {
		return downloadS3(ctx, s3c, workDir, ref, progress)
	}
	path := strings.TrimPrefix(ref.Location, "file://")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, permanent(err, "the backup file %s does not exist", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open backup: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat backup: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, permanent(nil, "the backup %s is a folder: %s", path, reasonDirectory)
	}
	b := &localBackup{File: f, size: st.Size()}
	if err := checkBackup(ref, b.size, func() (string, error) { return hashFile(f) }); err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

func downloadS3(ctx context.Context, s3c ObjectGetter, workDir string, ref jobs.BackupRef, progress func(n int64)) (*localBackup, error) {
	if s3c == nil {
		return nil, permanent(nil, "this agent has no S3 access configured for %s", ref.Location)
	}
	u, err := url.Parse(ref.Location)
	if err != nil || u.Host == "" || len(u.Path) < 2 {
		return nil, permanent(err, "the backup location %q is not s3://bucket/key", ref.Location)
	}
	out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.Host), Key: aws.String(u.Path[1:])})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", ref.Location, err)
	}
	defer out.Body.Close()
	f, err := os.CreateTemp(workDir, "backup-*")
	if err != nil {
		return nil, fmt.Errorf("temporary backup file: %w", err)
	}
	b := &localBackup{File: f, remove: true}
	h := sha256.New()
	w := &countingWriter{w: io.MultiWriter(f, h), progressCounter: progressCounter{report: progress, every: 8 << 20}}
	if _, err := io.CopyBuffer(w, out.Body, make([]byte, 1<<20)); err != nil {
		b.Close()
		return nil, fmt.Errorf("download %s: %w", ref.Location, err)
	}
	b.size = w.n
	sum := hex.EncodeToString(h.Sum(nil))
	if err := checkBackup(ref, b.size, func() (string, error) { return sum, nil }); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// checkBackup compares what ref states against the file; hash is called only if ref has a SHA-256.
func checkBackup(ref jobs.BackupRef, size int64, hash func() (string, error)) error {
	if ref.Size > 0 && size != ref.Size {
		return permanent(nil, "the backup is truncated or damaged: it has %d bytes, the catalogue says %d", size, ref.Size)
	}
	if ref.SHA256 == "" {
		return nil
	}
	sum, err := hash()
	if err != nil {
		return fmt.Errorf("checksum backup: %w", err)
	}
	if !strings.EqualFold(sum, ref.SHA256) {
		return permanent(nil, "the backup is corrupt: its SHA-256 does not match the catalogue")
	}
	return nil
}

func hashFile(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// progressCounter counts bytes and reports the running total every `every` bytes.
type progressCounter struct {
	n, next, every int64
	report         func(int64)
}

func (c *progressCounter) add(n int) {
	c.n += int64(n)
	if c.report != nil && c.n >= c.next {
		c.report(c.n)
		c.next = c.n + c.every
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	progressCounter
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.add(n)
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	progressCounter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.add(n)
	return n, err
}

// rate returns n per second since start.
func rate(n int64, start time.Time, now time.Time) float64 {
	d := now.Sub(start).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(n) / d
}
