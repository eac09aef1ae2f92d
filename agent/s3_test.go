package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/jobs"
)

func TestRestoreFromS3(t *testing.T) {
	env := testenv.Moto(t)
	ctx := context.Background()
	client, err := NewS3(ctx, S3Config{Region: env.Region, Endpoint: env.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	bucket := testenv.UniqueName("backups-")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, 200)
	body, err := os.ReadFile(dump(t, src, "prod.dump", "-Fc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("prod/2026-05-01.dump"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	loc := "s3://" + bucket + "/prod/2026-05-01.dump"

	rdb, prefix := testenv.Redis(t)
	a, q := newTestAgent(t, rdb, prefix, "a1", agentOpts{})
	a.deps.S3 = client
	tests := []struct {
		name   string
		ref    jobs.BackupRef
		state  jobs.State
		reason string
	}{
		{"checked", jobs.BackupRef{Location: loc, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}, jobs.StateReady, ""},
		{"checksum mismatch", jobs.BackupRef{Location: loc, SHA256: strings.Repeat("0", 64)}, jobs.StateFailed, "SHA-256 does not match"},
		{"size mismatch", jobs.BackupRef{Location: loc, Size: 10}, jobs.StateFailed, "truncated or damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testenv.Postgres(t)
			job := restoreJob("s3-"+strings.ReplaceAll(tt.name, " ", "-"), "", target)
			job.Backup = tt.ref
			e := runToEnd(t, a, q, job)
			if e.State != tt.state || !strings.Contains(e.Reason, tt.reason) {
				t.Fatalf("final = %+v", e)
			}
			if tt.state == jobs.StateReady {
				if n := query(t, target, "SELECT count(*) FROM public.users")[0]; n != "200" {
					t.Fatalf("%s users restored", n)
				}
			}
			leftovers, _ := os.ReadDir(a.cfg.WorkDir)
			if len(leftovers) != 0 {
				t.Fatalf("downloaded backup left behind: %v", leftovers)
			}
		})
	}
}
