package aws

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clonebot/clonebot/provisioner"
)

func day(s string) time.Time {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

const digest = "9f86d081884c7d659a2feaa0c55ade15bb4f0b6b9f8a5e7c2b1a0b0c4e2f1a3d"

// putBackups creates the env's bucket with a few backups of "orders" and of another source,
// and keys that are not backups.
func (e *env) putBackups() {
	e.t.Helper()
	if _, err := e.clients.S3.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: sdkaws.String(e.bucket)}); err != nil {
		e.t.Fatal(err)
	}
	objects := map[string]string{
		"orders/2024-05-01/orders.pgdump":        strings.Repeat("x", 1234),
		"orders/2024-05-01/orders.pgdump.sha256": digest + "  orders.pgdump\n",
		"orders/2024-05-04/orders.pgdump":        "four",
		"orders/2024-05-20/orders.pgdump":        "twenty",
		"orders/2024-06-02/orders.pgdump":        "june",
		"orders/2024-13-01/orders.pgdump":        "not a date",
		"orders/latest/orders.pgdump":            "not a date either",
		"orders/2024-05-10/":                     "", // a folder marker
		"payments/2024-05-02/payments.pgdump":    "another source",
	}
	for k, v := range objects {
		if _, err := e.clients.S3.PutObject(e.ctx, &s3.PutObjectInput{Bucket: sdkaws.String(e.bucket), Key: sdkaws.String(k), Body: strings.NewReader(v)}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestCatalogueFindsFiles(t *testing.T) {
	e := newEnv(t)
	e.putBackups()
	cat := e.p.Catalogue()

	got, err := cat.Find(e.ctx, "orders", day("2024-05-01").Add(15*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := provisioner.Backup{
		Source: "orders", Kind: provisioner.BackupFile, Date: day("2024-05-01"),
		Location: "s3://" + e.bucket + "/orders/2024-05-01/orders.pgdump", Size: 1234, Checksum: digest,
	}
	if got != want {
		t.Errorf("Find = %+v, want %+v", got, want)
	}

	tests := []struct {
		name string
		at   string
		want []string // nearest dates
	}{
		{"between two backups", "2024-05-03", []string{"2024-05-04", "2024-05-01", "2024-05-20"}},
		{"a folder marker is no backup", "2024-05-10", []string{"2024-05-04", "2024-05-01", "2024-05-20"}},
		{"after the last", "2024-07-01", []string{"2024-06-02", "2024-05-20", "2024-05-04"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cat.Find(e.ctx, "orders", day(tt.at))
			var nb *provisioner.NoBackupError
			if !errors.As(rec.Err(err), &nb) {
				t.Fatalf("Find: %v, want a NoBackupError", err)
			}
			var near []string
			for _, d := range nb.Nearest {
				near = append(near, d.Format(dateLayout))
			}
			if !slices.Equal(near, tt.want) || nb.Source != "orders" || !nb.Date.Equal(day(tt.at)) {
				t.Errorf("NoBackupError = %+v, nearest %q, want %q", nb, near, tt.want)
			}
		})
	}

	list, err := cat.Backups(e.ctx, "orders", day("2024-05-01"), day("2024-06-01"))
	if err != nil {
		t.Fatal(err)
	}
	var dates []string
	for _, b := range list {
		dates = append(dates, b.Date.Format(dateLayout))
	}
	if want := []string{"2024-05-01", "2024-05-04", "2024-05-20"}; !slices.Equal(dates, want) {
		t.Errorf("Backups in May = %q, want %q", dates, want)
	}
	if list[0].Checksum != digest || list[1].Checksum != "" || list[1].Size != 4 {
		t.Errorf("Backups = %+v", list)
	}

	if _, err := cat.Find(e.ctx, "nope", day("2024-05-01")); !errors.Is(rec.Err(err), provisioner.ErrUnknownSource) {
		t.Errorf("Find of an unknown source: %v", err)
	}
	if _, err := cat.Backups(e.ctx, "nope", day("2024-05-01"), day("2024-06-01")); !errors.Is(rec.Err(err), provisioner.ErrUnknownSource) {
		t.Errorf("Backups of an unknown source: %v", err)
	}
}

func TestCatalogueRefusesABadChecksumSidecar(t *testing.T) {
	e := newEnv(t)
	e.putBackups()
	if _, err := e.clients.S3.PutObject(e.ctx, &s3.PutObjectInput{
		Bucket: sdkaws.String(e.bucket), Key: sdkaws.String("orders/2024-05-04/orders.pgdump.sha256"), Body: strings.NewReader("garbage\n"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Catalogue().Find(e.ctx, "orders", day("2024-05-04")); rec.Err(err) == nil || !strings.Contains(err.Error(), "no SHA-256") {
		t.Errorf("Find with a bad sidecar: %v", err)
	}
}

func TestCatalogueFindsSnapshotsByCreationDate(t *testing.T) {
	e := newEnv(t)
	e.makeSourceCluster()
	e.makeSnapshot(e.sourceCluster + "-a")
	e.makeSnapshot(e.sourceCluster + "-b")
	cat := e.p.Catalogue()
	today := truncateDay(time.Now())

	got, err := cat.Find(e.ctx, "ledger", today.Add(9*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// moto dates both snapshots now; the newer of the day wins.
	if got.Kind != provisioner.BackupSnapshot || !got.Date.Equal(today) || got.Location != e.sourceCluster+"-b" {
		t.Errorf("Find = %+v, want today's newest snapshot %s-b", got, e.sourceCluster)
	}
	_, err = cat.Find(e.ctx, "ledger", today.AddDate(0, 0, -3))
	var nb *provisioner.NoBackupError
	if !errors.As(rec.Err(err), &nb) || len(nb.Nearest) != 1 || !nb.Nearest[0].Equal(today) {
		t.Errorf("Find three days ago: %v, want a NoBackupError naming today", err)
	}
	list, err := cat.Backups(e.ctx, "ledger", today, today.AddDate(0, 0, 1))
	if err != nil || len(list) != 1 || list[0].Location != e.sourceCluster+"-b" {
		t.Errorf("Backups today = %+v (%v), want one snapshot", list, err)
	}
}

func TestCataloguePointInTimeWindow(t *testing.T) {
	e := newEnv(t)
	e.makeSourceCluster()
	cat := e.p.Catalogue()
	earliest, latest, err := cat.window(e.ctx, e.cfg.Sources["payments"])
	if err != nil {
		t.Fatal(err)
	}
	if earliest.IsZero() || latest.Before(earliest) {
		t.Fatalf("window %s .. %s", earliest, latest)
	}

	got, err := cat.Find(e.ctx, "payments", earliest)
	if err != nil || got.Kind != provisioner.BackupPointInTime || !got.Date.Equal(earliest) || got.Location != "" {
		t.Errorf("Find at the earliest restorable time = %+v (%v)", got, err)
	}
	got, err = cat.Find(e.ctx, "payments", time.Time{})
	if err != nil || got.Date.Before(latest) {
		t.Errorf("Find of the latest = %+v (%v), want the latest restorable time", got, err)
	}

	tests := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"before the window", earliest.Add(-48 * time.Hour), earliest},
		{"after the window", latest.Add(48 * time.Hour), latest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cat.Find(e.ctx, "payments", tt.at)
			var nb *provisioner.NoBackupError
			if !errors.As(rec.Err(err), &nb) || len(nb.Nearest) != 1 {
				t.Fatalf("Find: %v, want a NoBackupError", err)
			}
			// moto moves the latest restorable time with its clock; a second is plenty.
			if d := nb.Nearest[0].Sub(tt.want); d < -time.Second || d > time.Second {
				t.Errorf("nearest = %s, want %s", nb.Nearest[0], tt.want)
			}
		})
	}

	list, err := cat.Backups(e.ctx, "payments", truncateDay(earliest), truncateDay(latest).AddDate(0, 0, 1))
	if err != nil || len(list) == 0 || !list[0].Date.Equal(earliest) {
		t.Errorf("Backups over the window = %+v (%v), want the window's days from %s", list, err, earliest)
	}
	for i, b := range list {
		if i > 0 && !b.Date.Equal(truncateDay(b.Date)) {
			t.Errorf("day %d of the window starts at %s, not at midnight", i, b.Date)
		}
	}
}
