package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/clonebot/clonebot/provisioner"
)

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// backupTree writes files (paths relative to root) and returns root.
func backupTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func testCatalogue(t *testing.T, root string, now time.Time) *Catalogue {
	t.Helper()
	c, err := NewCatalogue(Config{
		AdminURL:   "postgres://clonebot@db.internal/postgres",
		Host:       "db.internal",
		Port:       5432,
		SecretsDir: "/var/lib/clonebot/secrets",
		Backups:    filepath.Join(root, "{source}", "{date}") + "/",
		Sources: map[string]SourceConfig{
			"prod":  {Strategy: provisioner.StrategyRestore},
			"empty": {Strategy: provisioner.StrategyRestore},
			"live":  {Strategy: provisioner.StrategyFastClone, Template: "prod_live"},
		},
	}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogueFind(t *testing.T) {
	root := backupTree(t, map[string]string{
		"prod/2026-11-01/prod.dump":        "0123456789",
		"prod/2026-11-01/prod.dump.sha256": sum + "  prod.dump\n",
		"prod/2026-11-03/prod.sql":         "plain",
		"prod/2026-11-03/prod.sql.gz":      "gzipped",
		"prod/2026-11-10/prod.sql":         "plain sql",
		"prod/2026-11-10/README.txt":       "not a backup",
		"prod/2026-11-12/notes.txt":        "a day without a backup file",
		"prod/latest/prod.dump":            "not a date",
		"other/2026-11-05/other.dump":      "another source",
	})
	// fixed date: the catalogue reads folder names on disk with this injected now; no server sees it
	now := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	c := testCatalogue(t, root, now)
	path := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }

	tests := []struct {
		name    string
		source  string
		at      time.Time
		want    provisioner.Backup
		nearest []time.Time // when a *NoBackupError is expected
		wantErr error
	}{
		{name: "dump with checksum", source: "prod", at: day("2026-11-01").Add(15 * time.Hour),
			want: provisioner.Backup{Source: "prod", Kind: provisioner.BackupFile, Date: day("2026-11-01"), Location: path("prod/2026-11-01/prod.dump"), Size: 10, Checksum: sum}},
		{name: "sql.gz preferred over sql", source: "prod", at: day("2026-11-03"),
			want: provisioner.Backup{Source: "prod", Kind: provisioner.BackupFile, Date: day("2026-11-03"), Location: path("prod/2026-11-03/prod.sql.gz"), Size: 7}},
		{name: "plain sql, other files ignored", source: "prod", at: day("2026-11-10"),
			want: provisioner.Backup{Source: "prod", Kind: provisioner.BackupFile, Date: day("2026-11-10"), Location: path("prod/2026-11-10/prod.sql"), Size: 9}},
		{name: "no backup that day", source: "prod", at: day("2026-11-04"),
			nearest: []time.Time{day("2026-11-03"), day("2026-11-01"), day("2026-11-10")}},
		{name: "folder without a backup file", source: "prod", at: day("2026-11-12"),
			nearest: []time.Time{day("2026-11-10"), day("2026-11-03"), day("2026-11-01")}},
		{name: "source with no folder yet", source: "empty", at: day("2026-11-04"), nearest: []time.Time{}},
		{name: "unknown source", source: "other", at: day("2026-11-05"), wantErr: provisioner.ErrUnknownSource},
		{name: "fast-clone is the template now", source: "live", at: day("2024-05-01"),
			want: provisioner.Backup{Source: "live", Kind: provisioner.BackupPointInTime, Date: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Find(context.Background(), tt.source, tt.at)
			var noBackup *provisioner.NoBackupError
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
			case tt.nearest != nil:
				if !errors.As(err, &noBackup) {
					t.Fatalf("err %v, want *NoBackupError", err)
				}
				if !noBackup.Date.Equal(midnight(tt.at)) || len(noBackup.Nearest) != len(tt.nearest) {
					t.Fatalf("NoBackupError %+v, want nearest %v", noBackup, tt.nearest)
				}
				for i := range tt.nearest {
					if !noBackup.Nearest[i].Equal(tt.nearest[i]) {
						t.Fatalf("nearest %v, want %v", noBackup.Nearest, tt.nearest)
					}
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tt.want):
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCatalogueBackupsInRange(t *testing.T) {
	root := backupTree(t, map[string]string{
		"prod/2026-10-31/a.dump": "x",
		"prod/2026-11-01/a.dump": "x",
		"prod/2026-11-15/a.sql":  "x",
		"prod/2026-12-01/a.dump": "x",
	})
	c := testCatalogue(t, root, time.Now())
	got, err := c.Backups(context.Background(), "prod", day("2026-11-01"), day("2026-12-01"))
	if err != nil {
		t.Fatal(err)
	}
	var dates []string
	for _, b := range got {
		dates = append(dates, b.Date.Format(time.DateOnly))
	}
	if want := []string{"2026-11-01", "2026-11-15"}; !reflect.DeepEqual(dates, want) {
		t.Errorf("dates %v, want %v", dates, want)
	}
	if _, err := c.Backups(context.Background(), "nope", day("2026-11-01"), day("2026-12-01")); !errors.Is(err, provisioner.ErrUnknownSource) {
		t.Errorf("unknown source: %v", err)
	}
}

func TestCatalogueRejectsBadChecksumSidecar(t *testing.T) {
	root := backupTree(t, map[string]string{
		"prod/2026-11-01/prod.dump":        "x",
		"prod/2026-11-01/prod.dump.sha256": "not-a-digest  prod.dump\n",
	})
	c := testCatalogue(t, root, time.Now())
	if _, err := c.Find(context.Background(), "prod", day("2026-11-01")); err == nil {
		t.Error("a malformed checksum sidecar was accepted")
	}
}
