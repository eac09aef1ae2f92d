package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clonebot/clonebot/provisioner"
)

// nearestCount is how many nearest dates a NoBackupError names.
const nearestCount = 3

const dateLayout = "2006-01-02"

// Catalogue lists what can be cloned for each configured source: backup files in S3 for
// restore, cluster snapshots of the source cluster for snapshot, and the source cluster's
// point-in-time window for fast-clone.
type Catalogue struct {
	sources map[string]SourceConfig
	rds     rdsAPI
	s3      s3API
}

var _ provisioner.Catalogue = (*Catalogue)(nil)

// NewCatalogue returns the catalogue of cfg's sources, read through c.
func NewCatalogue(cfg Config, c Clients) *Catalogue { return newCatalogue(cfg, c.RDS, c.S3) }

func newCatalogue(cfg Config, rdsClient rdsAPI, s3Client s3API) *Catalogue {
	return &Catalogue{sources: cfg.Sources, rds: rdsClient, s3: s3Client}
}

// Backups lists the backups of source dated in [from, to), oldest first, one per day. For a
// point-in-time source each day of the restorable window is one entry, dated at its first
// restorable moment. It returns provisioner.ErrUnknownSource for a source not configured.
func (c *Catalogue) Backups(ctx context.Context, source string, from, to time.Time) ([]provisioner.Backup, error) {
	src, ok := c.sources[source]
	if !ok {
		return nil, fmt.Errorf("backups of %q: %w", source, provisioner.ErrUnknownSource)
	}
	inRange := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	var out []provisioner.Backup
	if src.Strategy == provisioner.StrategyFastClone {
		days, err := c.windowDays(ctx, source, src)
		if err != nil {
			return nil, err
		}
		for _, b := range days {
			if inRange(b.Date) {
				out = append(out, b)
			}
		}
		return out, nil
	}
	days, err := c.daily(ctx, source, src)
	if err != nil {
		return nil, err
	}
	for _, d := range days {
		if !inRange(d.Date) {
			continue
		}
		b, err := c.withChecksum(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Find returns the backup of source for the UTC day of at or, for a point-in-time source,
// the point at itself (the zero time meaning the latest restorable time). When there is
// none it returns a *provisioner.NoBackupError naming the nearest dates.
func (c *Catalogue) Find(ctx context.Context, source string, at time.Time) (provisioner.Backup, error) {
	src, ok := c.sources[source]
	if !ok {
		return provisioner.Backup{}, fmt.Errorf("find backup of %q: %w", source, provisioner.ErrUnknownSource)
	}
	if src.Strategy == provisioner.StrategyFastClone {
		return c.findPoint(ctx, source, src, at)
	}
	all, err := c.daily(ctx, source, src)
	if err != nil {
		return provisioner.Backup{}, err
	}
	day := truncateDay(at)
	var have []time.Time
	for _, d := range all {
		if d.Date.Equal(day) {
			return c.withChecksum(ctx, d)
		}
		have = append(have, d.Date)
	}
	return provisioner.Backup{}, &provisioner.NoBackupError{Source: source, Date: day, Nearest: provisioner.NearestDates(have, day, nearestCount)}
}

// daily returns the newest file or snapshot of each day, oldest day first.
func (c *Catalogue) daily(ctx context.Context, source string, src SourceConfig) ([]dated, error) {
	var found []dated
	var err error
	if src.Strategy == provisioner.StrategySnapshot {
		found, err = c.snapshots(ctx, source, src)
	} else {
		found, err = c.files(ctx, source, src)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(found, func(i, j int) bool { return found[i].before(found[j]) })
	var out []dated
	for i, d := range found {
		if i+1 < len(found) && found[i+1].Date.Equal(d.Date) {
			continue // a newer one of the same day follows
		}
		out = append(out, d)
	}
	return out, nil
}

// dated is a backup with the exact time it was made, to choose the newest of a day, and
// the S3 key of its checksum sidecar, if it has one.
type dated struct {
	provisioner.Backup
	made    time.Time
	sidecar string
}

func (d dated) before(o dated) bool {
	if !d.Date.Equal(o.Date) {
		return d.Date.Before(o.Date)
	}
	if !d.made.Equal(o.made) {
		return d.made.Before(o.made)
	}
	return d.Location < o.Location
}

// files lists the backup files under the source's S3 template.
func (c *Catalogue) files(ctx context.Context, source string, src SourceConfig) ([]dated, error) {
	tmpl, err := parseTemplate(src.Backups)
	if err != nil {
		return nil, fmt.Errorf("backups of %s: %w", source, err)
	}
	prefix, pattern := tmpl.match(source)
	pages := s3.NewListObjectsV2Paginator(c.s3, &s3.ListObjectsV2Input{Bucket: sdkaws.String(tmpl.bucket), Prefix: sdkaws.String(prefix)})
	keys := map[string]bool{}
	var out []dated
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", tmpl.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := sdkaws.ToString(o.Key)
			keys[key] = true
			m := pattern.FindStringSubmatch(key)
			if m == nil || strings.HasSuffix(key, checksumSuffix) {
				continue
			}
			day, err := time.Parse(dateLayout, m[1])
			if err != nil {
				continue // looks like a date but is not one (2024-13-01)
			}
			out = append(out, dated{
				Backup: provisioner.Backup{
					Source: source, Kind: provisioner.BackupFile, Date: day,
					Location: "s3://" + tmpl.bucket + "/" + key, Size: sdkaws.ToInt64(o.Size),
				},
				made: sdkaws.ToTime(o.LastModified),
			})
		}
	}
	for i := range out {
		if sidecar := strings.TrimPrefix(out[i].Location, "s3://"+tmpl.bucket+"/") + checksumSuffix; keys[sidecar] {
			out[i].sidecar = sidecar
		}
	}
	return out, nil
}

const checksumSuffix = ".sha256"

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// withChecksum returns d's backup with the checksum its sidecar holds (`sha256sum` output:
// the hex digest, optionally followed by the file name).
func (c *Catalogue) withChecksum(ctx context.Context, d dated) (provisioner.Backup, error) {
	if d.sidecar == "" {
		return d.Backup, nil
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(d.Location, "s3://"), "/")
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: sdkaws.String(bucket), Key: sdkaws.String(d.sidecar)})
	if err != nil {
		return provisioner.Backup{}, fmt.Errorf("read checksum of %s: %w", d.Location, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, 1024))
	if err != nil {
		return provisioner.Backup{}, fmt.Errorf("read checksum of %s: %w", d.Location, err)
	}
	fields := strings.Fields(string(body))
	if len(fields) == 0 || !sha256Hex.MatchString(strings.ToLower(fields[0])) {
		return provisioner.Backup{}, fmt.Errorf("checksum of %s: s3://%s/%s holds no SHA-256 digest", d.Location, bucket, d.sidecar)
	}
	d.Checksum = strings.ToLower(fields[0])
	return d.Backup, nil
}

// snapshots lists the available cluster snapshots of the source cluster.
func (c *Catalogue) snapshots(ctx context.Context, source string, src SourceConfig) ([]dated, error) {
	pages := rds.NewDescribeDBClusterSnapshotsPaginator(c.rds, &rds.DescribeDBClusterSnapshotsInput{DBClusterIdentifier: sdkaws.String(src.SourceCluster)})
	var out []dated
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list snapshots of %s: %w", src.SourceCluster, err)
		}
		for _, s := range page.DBClusterSnapshots {
			if sdkaws.ToString(s.Status) != "available" || s.SnapshotCreateTime == nil {
				continue
			}
			made := s.SnapshotCreateTime.UTC()
			out = append(out, dated{
				Backup: provisioner.Backup{
					Source: source, Kind: provisioner.BackupSnapshot, Date: truncateDay(made),
					Location: sdkaws.ToString(s.DBClusterSnapshotIdentifier),
				},
				made: made,
			})
		}
	}
	return out, nil
}

// window returns the source cluster's restorable window.
func (c *Catalogue) window(ctx context.Context, src SourceConfig) (earliest, latest time.Time, err error) {
	out, err := c.rds.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: sdkaws.String(src.SourceCluster)})
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("restorable window of %s: %w", src.SourceCluster, err)
	}
	if len(out.DBClusters) == 0 || out.DBClusters[0].EarliestRestorableTime == nil || out.DBClusters[0].LatestRestorableTime == nil {
		return time.Time{}, time.Time{}, fmt.Errorf("restorable window of %s: %w", src.SourceCluster, errNoWindow)
	}
	return out.DBClusters[0].EarliestRestorableTime.UTC(), out.DBClusters[0].LatestRestorableTime.UTC(), nil
}

var errNoWindow = errors.New("the cluster reports no restorable window")

// windowDays returns one point-in-time backup per UTC day of the source's window.
func (c *Catalogue) windowDays(ctx context.Context, source string, src SourceConfig) ([]provisioner.Backup, error) {
	earliest, latest, err := c.window(ctx, src)
	if err != nil {
		return nil, err
	}
	var out []provisioner.Backup
	for t := earliest; !t.After(latest); t = truncateDay(t).AddDate(0, 0, 1) {
		out = append(out, provisioner.Backup{Source: source, Kind: provisioner.BackupPointInTime, Date: t})
	}
	return out, nil
}

func (c *Catalogue) findPoint(ctx context.Context, source string, src SourceConfig, at time.Time) (provisioner.Backup, error) {
	earliest, latest, err := c.window(ctx, src)
	if err != nil {
		return provisioner.Backup{}, err
	}
	switch {
	case at.IsZero():
		at = latest
	case at.Before(earliest):
		return provisioner.Backup{}, &provisioner.NoBackupError{Source: source, Date: at, Nearest: []time.Time{earliest}}
	case at.After(latest):
		return provisioner.Backup{}, &provisioner.NoBackupError{Source: source, Date: at, Nearest: []time.Time{latest}}
	}
	return provisioner.Backup{Source: source, Kind: provisioner.BackupPointInTime, Date: at.UTC()}, nil
}

func truncateDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// template is a parsed backups location, s3://bucket/{source}/{date}/.
type template struct {
	bucket string
	key    string // with the {source} and {date} placeholders
}

func parseTemplate(s string) (template, error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return template{}, fmt.Errorf("%q does not start with s3://", s)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return template{}, fmt.Errorf("%q names no bucket", s)
	}
	if strings.Count(key, "{date}") != 1 {
		return template{}, fmt.Errorf("%q must hold {date} exactly once", s)
	}
	return template{bucket: bucket, key: key}, nil
}

// match returns the listing prefix of source's backups (everything before {date}) and the
// pattern of their keys, whose first group is the date. A template ending in {date} or
// {date}/ is a folder: every object under it but folder markers is a backup file.
func (t template) match(source string) (string, *regexp.Regexp) {
	key := strings.ReplaceAll(t.key, "{source}", source)
	before, after, _ := strings.Cut(key, "{date}")
	expr := "^" + regexp.QuoteMeta(before) + `(\d{4}-\d{2}-\d{2})` + regexp.QuoteMeta(after)
	if after == "" || strings.HasSuffix(after, "/") {
		expr += ".*[^/]" // any object but a folder marker
	}
	return before, regexp.MustCompile(expr + "$")
}
