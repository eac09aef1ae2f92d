package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clonebot/clonebot/provisioner"
)

// ErrForeignReference is returned by Resolve for a reference that is not a file of this store.
var ErrForeignReference = errors.New("credential reference outside the secrets directory")

const refScheme = "file://"

// SecretStore keeps one JSON file of credentials per clone in a directory (mode 0700, files
// 0600, each written atomically). A clone's credential reference is file://<absolute path>:
// it says where the secret is, never what it is.
type SecretStore struct {
	dir string
}

var _ provisioner.SecretStore = (*SecretStore)(nil)

// NewSecretStore opens the store in dir, creating it with mode 0700 (and tightening an
// existing directory to 0700).
func NewSecretStore(dir string) (*SecretStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("secrets dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, fmt.Errorf("secrets dir: %w", err)
	}
	return &SecretStore{dir: abs}, nil
}

// secret is the stored form: the credentials of provisioner.Credentials (with the password in
// clear, which is the point of the file) plus what Extend and Destroy need.
type secret struct {
	Engine    string    `json:"engine"`
	Host      string    `json:"host"`
	Port      int       `json:"port"`
	Username  string    `json:"username"`
	Password  string    `json:"password"`
	DBName    string    `json:"dbname"`
	RequestID string    `json:"request_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *SecretStore) path(name string) string { return filepath.Join(s.dir, name+".json") }

// ref returns the credential reference of the clone called name.
func (s *SecretStore) ref(name string) string { return refScheme + s.path(name) }

// Resolve reads the credentials a file:// reference of this store points at. It returns
// ErrForeignReference for any other reference and an error wrapping fs.ErrNotExist when the
// clone's secret is gone.
func (s *SecretStore) Resolve(_ context.Context, ref string) (provisioner.Credentials, error) {
	p, ok := strings.CutPrefix(ref, refScheme)
	if !ok || !filepath.IsAbs(p) || filepath.Clean(p) != p || filepath.Dir(p) != s.dir || filepath.Ext(p) != ".json" {
		return provisioner.Credentials{}, fmt.Errorf("resolve %q: %w", ref, ErrForeignReference)
	}
	sec, err := readSecret(p)
	if err != nil {
		return provisioner.Credentials{}, fmt.Errorf("resolve %q: %w", ref, err)
	}
	return provisioner.Credentials{
		Engine:   sec.Engine,
		Host:     sec.Host,
		Port:     sec.Port,
		Username: sec.Username,
		Password: provisioner.NewPassword(sec.Password),
		DBName:   sec.DBName,
	}, nil
}

// read returns the stored secret of the clone called name; fs.ErrNotExist when there is none.
func (s *SecretStore) read(name string) (secret, error) {
	return readSecret(s.path(name))
}

func readSecret(path string) (secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return secret{}, err
	}
	var sec secret
	// The decoder's message may quote the file's content: it is not wrapped.
	if json.Unmarshal(b, &sec) != nil || sec.Password == "" {
		return secret{}, fmt.Errorf("secret file %s: not a clonebot credentials file", path)
	}
	return sec, nil
}

// create stores sec for the clone called name unless a secret is stored already, in which
// case it returns that one: of two concurrent calls, both end up with the first's password.
func (s *SecretStore) create(name string, sec secret) (secret, error) {
	tmp, err := s.temp(name, sec)
	if err != nil {
		return secret{}, err
	}
	defer os.Remove(tmp)
	// A hard link appears atomically and only if nothing has the name: create-if-absent.
	if err := os.Link(tmp, s.path(name)); errors.Is(err, fs.ErrExist) {
		return s.read(name)
	} else if err != nil {
		return secret{}, fmt.Errorf("store secret %s: %w", name, err)
	}
	return sec, syncDir(s.dir)
}

// write replaces the stored secret of the clone called name atomically.
func (s *SecretStore) write(name string, sec secret) error {
	tmp, err := s.temp(name, sec)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op once renamed
	if err := os.Rename(tmp, s.path(name)); err != nil {
		return fmt.Errorf("store secret %s: %w", name, err)
	}
	return syncDir(s.dir)
}

// temp writes sec to a synced 0600 temporary file in the store's directory.
func (s *SecretStore) temp(name string, sec secret) (string, error) {
	b, err := json.Marshal(sec)
	if err != nil {
		return "", fmt.Errorf("encode secret %s: %w", name, err)
	}
	f, err := os.CreateTemp(s.dir, "."+name+"-*.tmp")
	if err != nil {
		return "", fmt.Errorf("store secret %s: %w", name, err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("store secret %s: %w", name, err)
	}
	return f.Name(), nil
}

// remove deletes the secret of the clone called name; a missing file is success.
func (s *SecretStore) remove(name string) error {
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return syncDir(s.dir)
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync secrets dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync secrets dir: %w", err)
	}
	return nil
}
