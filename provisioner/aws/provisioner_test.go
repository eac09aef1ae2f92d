package aws

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clonebot/clonebot/approvals"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

var pointInTime = time.Now().Add(-time.Second).UTC().Truncate(time.Second)

// checkPasswordSet checks that a cluster copied from another got the secret's password.
func checkPasswordSet(t *testing.T, calls *crashes, password string) {
	t.Helper()
	in, _ := calls.input("ModifyDBCluster").(*rds.ModifyDBClusterInput)
	if calls.count("ModifyDBCluster") != 1 || in == nil || sdkaws.ToString(in.MasterUserPassword) != password || !sdkaws.ToBool(in.ApplyImmediately) {
		t.Errorf("the copied cluster's master password was not set to the secret's once (calls: %d)", calls.count("ModifyDBCluster"))
	}
}

var wantSteps = []string{"secret stored", "cluster creating", "cluster available", "instance creating", "instance available"}

func TestCreateAndDestroyEachStrategy(t *testing.T) {
	tests := []struct {
		name     string
		source   string
		backup   func(e *env) provisioner.Backup
		wantUser string // the clone's master user: ours, or the source cluster's for copies
		wantKMS  string
		// sent checks the requests that made the cluster (moto accepts but does not keep
		// every field: subnet group, security groups, restore type, the master password).
		sent func(t *testing.T, e *env, calls *crashes, password string)
	}{
		{
			name:     "restore makes an empty encrypted cluster",
			source:   "orders",
			backup:   func(e *env) provisioner.Backup { return provisioner.Backup{Kind: provisioner.BackupFile} },
			wantUser: DefaultMasterUsername,
			wantKMS:  testKMSKey,
			sent: func(t *testing.T, e *env, calls *crashes, password string) {
				in := calls.input("CreateDBCluster").(*rds.CreateDBClusterInput)
				if sdkaws.ToString(in.MasterUserPassword) != password || !sdkaws.ToBool(in.StorageEncrypted) ||
					sdkaws.ToString(in.KmsKeyId) != testKMSKey || sdkaws.ToString(in.DBSubnetGroupName) != "clonebot-private" ||
					!slices.Equal(in.VpcSecurityGroupIds, e.cfg.VPCSecurityGroupIDs) || sdkaws.ToString(in.Engine) != EngineAuroraPostgres ||
					sdkaws.ToString(in.EngineVersion) != "15.4" || sdkaws.ToString(in.DatabaseName) != "orders" {
					t.Errorf("CreateDBCluster sent the wrong settings (password matches the secret: %v)", sdkaws.ToString(in.MasterUserPassword) == password)
				}
				if calls.count("ModifyDBCluster") != 0 {
					t.Errorf("the password of a new cluster was reset")
				}
			},
		},
		{
			name:     "fast-clone at the latest restorable time",
			source:   "payments",
			backup:   func(e *env) provisioner.Backup { return provisioner.Backup{Kind: provisioner.BackupPointInTime} },
			wantUser: "prodadmin",
			wantKMS:  testKMSKey, // the source's key: a copy-on-write clone shares its pages
			sent: func(t *testing.T, e *env, calls *crashes, password string) {
				in := calls.input("RestoreDBClusterToPointInTime").(*rds.RestoreDBClusterToPointInTimeInput)
				if sdkaws.ToString(in.RestoreType) != "copy-on-write" || !sdkaws.ToBool(in.UseLatestRestorableTime) || in.RestoreToTime != nil ||
					sdkaws.ToString(in.SourceDBClusterIdentifier) != e.sourceCluster || sdkaws.ToString(in.DBSubnetGroupName) != "clonebot-private" ||
					!slices.Equal(in.VpcSecurityGroupIds, e.cfg.VPCSecurityGroupIDs) {
					t.Errorf("RestoreDBClusterToPointInTime sent %+v", in)
				}
				checkPasswordSet(t, calls, password)
			},
		},
		{
			name:   "fast-clone to a point in time",
			source: "payments",
			backup: func(e *env) provisioner.Backup {
				return provisioner.Backup{Kind: provisioner.BackupPointInTime, Date: pointInTime}
			},
			wantUser: "prodadmin",
			wantKMS:  testKMSKey,
			sent: func(t *testing.T, e *env, calls *crashes, password string) {
				in := calls.input("RestoreDBClusterToPointInTime").(*rds.RestoreDBClusterToPointInTimeInput)
				if sdkaws.ToString(in.RestoreType) != "copy-on-write" || in.UseLatestRestorableTime != nil ||
					!sdkaws.ToTime(in.RestoreToTime).Equal(pointInTime) {
					t.Errorf("RestoreDBClusterToPointInTime sent %+v", in)
				}
				checkPasswordSet(t, calls, password)
			},
		},
		{
			name:   "snapshot of a date, found by the catalogue",
			source: "ledger",
			backup: func(e *env) provisioner.Backup {
				e.makeSnapshot(e.sourceCluster + "-daily")
				return provisioner.Backup{Kind: provisioner.BackupSnapshot, Date: time.Now()}
			},
			wantUser: "prodadmin",
			wantKMS:  testKMSKey,
			sent: func(t *testing.T, e *env, calls *crashes, password string) {
				in := calls.input("RestoreDBClusterFromSnapshot").(*rds.RestoreDBClusterFromSnapshotInput)
				if sdkaws.ToString(in.SnapshotIdentifier) != e.sourceCluster+"-daily" || sdkaws.ToString(in.KmsKeyId) != testKMSKey ||
					sdkaws.ToString(in.DBSubnetGroupName) != "clonebot-private" || !slices.Equal(in.VpcSecurityGroupIds, e.cfg.VPCSecurityGroupIDs) {
					t.Errorf("RestoreDBClusterFromSnapshot sent %+v", in)
				}
				checkPasswordSet(t, calls, password)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.makeSourceCluster()
			calls := e.crashAt(nil)
			spec := e.spec(tt.source)
			spec.Backup = tt.backup(e)
			n, _ := namesFor(spec.RequestID)

			clone, steps, err := e.create(spec)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(steps, wantSteps) {
				t.Errorf("progress = %q, want %q", steps, wantSteps)
			}

			c := e.cluster(n.cluster)
			if c.status != "available" || !c.encrypted || c.kms != tt.wantKMS {
				t.Errorf("cluster status %q encrypted %v kms %q; want available, encrypted with %q", c.status, c.encrypted, c.kms, tt.wantKMS)
			}
			wantTags := map[string]string{
				TagManagedBy: ManagedBy, TagRequestID: spec.RequestID, TagRequester: "U0123ABC",
				TagTier: "dev", TagDeleteAfter: spec.ExpiresAt.UTC().Format(time.RFC3339),
			}
			for k, v := range wantTags {
				if c.tags[k] != v {
					t.Errorf("cluster tag %s = %q, want %q", k, c.tags[k], v)
				}
			}
			if !slices.Equal(c.members, []string{n.instance}) {
				t.Errorf("cluster members = %q, want [%s]", c.members, n.instance)
			}
			inst, err := e.p.describeInstance(e.ctx, n.instance)
			if err != nil {
				t.Fatal(err)
			}
			if got := rdsTagMap(inst.TagList); got[TagManagedBy] != ManagedBy || got[TagRequestID] != spec.RequestID || got[TagDeleteAfter] != wantTags[TagDeleteAfter] {
				t.Errorf("instance tags = %v", got)
			}
			if sdkaws.ToString(inst.DBInstanceClass) != "db.r6g.large" {
				t.Errorf("instance class = %q", sdkaws.ToString(inst.DBInstanceClass))
			}

			// The secret: what the agent resolves from the reference.
			creds, err := e.store.Resolve(e.ctx, clone.CredentialRef)
			if err != nil {
				t.Fatal(rec.Err(err))
			}
			pw := creds.Password.Reveal()
			if len(pw) != MasterPasswordLength || !slices.Contains(e.generated(), pw) {
				t.Errorf("secret password: %d characters, generated by the provisioner: %v", len(pw), slices.Contains(e.generated(), pw))
			}
			tt.sent(t, e, calls, pw)
			wantCreds := provisioner.Credentials{
				Engine: "postgres", Host: c.endpoint, Port: c.port, Username: tt.wantUser,
				Password: creds.Password, DBName: e.cfg.Sources[tt.source].Database,
			}
			if creds != wantCreds || c.endpoint == "" || c.port == 0 {
				t.Errorf("secret = %+v, want %+v", creds, wantCreds)
			}
			wantClone := provisioner.Clone{
				RequestID: spec.RequestID, Host: c.endpoint, Port: c.port, Database: wantCreds.DBName,
				User: tt.wantUser, CredentialRef: clone.CredentialRef, Resources: []string{n.cluster, n.instance, n.secret},
			}
			if !slices.Equal(clone.Resources, wantClone.Resources) || clone.Host != wantClone.Host || clone.Port != wantClone.Port ||
				clone.Database != wantClone.Database || clone.User != wantClone.User || clone.RequestID != spec.RequestID {
				t.Errorf("clone = %+v, want %+v", clone, wantClone)
			}
			secret, err := e.clients.Secrets.DescribeSecret(e.ctx, &secretsmanager.DescribeSecretInput{SecretId: sdkaws.String(clone.CredentialRef)})
			if err != nil {
				t.Fatal(err)
			}
			if sdkaws.ToString(secret.ARN) != clone.CredentialRef || sdkaws.ToString(secret.Name) != n.secret {
				t.Errorf("credential reference %q names secret %q (%q), want the ARN of %q", clone.CredentialRef, sdkaws.ToString(secret.Name), sdkaws.ToString(secret.ARN), n.secret)
			}
			for k, v := range wantTags {
				if got := secretTagMap(secret.Tags)[k]; got != v {
					t.Errorf("secret tag %s = %q, want %q", k, got, v)
				}
			}
			// The secret is encrypted with the configured key, not the account's default.
			if in, _ := calls.input("CreateSecret").(*secretsmanager.CreateSecretInput); in == nil || sdkaws.ToString(in.KmsKeyId) != testKMSKey {
				t.Errorf("CreateSecret did not name the configured KMS key")
			}
			if got := sdkaws.ToString(secret.KmsKeyId); got != testKMSKey {
				t.Errorf("secret KMS key = %q, want %q", got, testKMSKey)
			}

			if err := rec.Err(e.p.Destroy(e.ctx, spec.RequestID)); err != nil {
				t.Fatal(err)
			}
			// moto keeps no automated backups: the requests must ask for their deletion.
			delCluster, _ := calls.input("DeleteDBCluster").(*rds.DeleteDBClusterInput)
			delInstance, _ := calls.input("DeleteDBInstance").(*rds.DeleteDBInstanceInput)
			if delCluster == nil || !sdkaws.ToBool(delCluster.DeleteAutomatedBackups) || !sdkaws.ToBool(delCluster.SkipFinalSnapshot) ||
				delInstance == nil || !sdkaws.ToBool(delInstance.DeleteAutomatedBackups) {
				t.Errorf("Destroy sent %+v and %+v, want automated backups deleted", delCluster, delInstance)
			}
			if c := e.cluster(n.cluster); c.id != "" && c.status != "deleting" {
				t.Errorf("after Destroy the cluster is %q", c.status)
			}
			if _, err := e.p.describeInstance(e.ctx, n.instance); !errors.Is(err, ErrNotFound) {
				t.Errorf("after Destroy the instance: %v", err)
			}
			if _, err := e.store.Resolve(e.ctx, clone.CredentialRef); !errors.Is(rec.Err(err), ErrNotFound) {
				t.Errorf("after Destroy the secret resolves: %v", err)
			}
			if src := e.cluster(e.sourceCluster); src.status != "available" || len(src.members) != 1 {
				t.Errorf("the source cluster was touched: %+v", src)
			}
		})
	}
}

func TestCreateAfterACrashFinishesTheSameClone(t *testing.T) {
	tests := []struct {
		name    string
		source  string
		crashAt string // the call after which the first Create dies
		makes   string // the call that makes the cluster
	}{
		{"after the secret is stored", "orders", "CreateSecret", "CreateDBCluster"},
		{"after the cluster is made", "orders", "CreateDBCluster", "CreateDBCluster"},
		{"after the instance is made", "orders", "CreateDBInstance", "CreateDBCluster"},
		{"after the secret is completed", "orders", "PutSecretValue", "CreateDBCluster"},
		{"after the clone is made, before its password is set", "payments", "RestoreDBClusterToPointInTime", "RestoreDBClusterToPointInTime"},
		{"after the clone's password is set", "payments", "ModifyDBCluster", "RestoreDBClusterToPointInTime"},
		{"after the snapshot is restored", "ledger", "RestoreDBClusterFromSnapshot", "RestoreDBClusterFromSnapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.makeSourceCluster()
			e.makeSnapshot(e.sourceCluster + "-daily")
			calls := e.crashAt(map[string]int{tt.crashAt: 1})
			spec := e.spec(tt.source)
			spec.Backup.Date = time.Now()
			if tt.source == "payments" {
				spec.Backup.Date = time.Time{}
			}

			if _, _, err := e.create(spec); !errors.Is(err, errCrash) {
				t.Fatalf("first Create: %v, want the simulated crash", err)
			}
			clone, steps, err := e.create(spec)
			if err != nil {
				t.Fatalf("second Create: %v", err)
			}
			if len(steps) == 0 || steps[len(steps)-1] != "instance available" {
				t.Errorf("second Create's progress = %q", steps)
			}
			if n := e.clustersOf(spec.RequestID); n != 1 {
				t.Errorf("%d clusters for the request, want 1", n)
			}
			if n := e.secretsOf(spec.RequestID); n != 1 {
				t.Errorf("%d secrets for the request, want 1", n)
			}
			for _, m := range []string{"CreateSecret", tt.makes, "CreateDBInstance"} {
				if got := calls.count(m); got != 1 {
					t.Errorf("%s called %d times, want 1", m, got)
				}
			}
			passwords := e.generated()
			if len(passwords) != 1 {
				t.Fatalf("%d passwords generated, want 1", len(passwords))
			}
			creds, err := e.store.Resolve(e.ctx, clone.CredentialRef)
			if err != nil {
				t.Fatal(rec.Err(err))
			}
			if creds.Password.Reveal() != passwords[0] || creds.Host == "" {
				t.Errorf("the secret does not hold the first password and the host (host %q)", creds.Host)
			}
			if in, ok := calls.input("ModifyDBCluster").(*rds.ModifyDBClusterInput); ok && sdkaws.ToString(in.MasterUserPassword) != passwords[0] {
				t.Errorf("the cluster's password was set to something else than the stored one")
			}
			if tt.source != "orders" && calls.count("ModifyDBCluster") == 0 {
				t.Errorf("the copied cluster's password was never set")
			}

			// A third Create of a finished clone changes nothing and returns the same clone.
			before := map[string]int{}
			for _, m := range []string{"CreateSecret", "PutSecretValue", "ModifyDBCluster", tt.makes, "CreateDBInstance"} {
				before[m] = calls.count(m)
			}
			again, _, err := e.create(spec)
			if err != nil {
				t.Fatal(err)
			}
			if again.CredentialRef != clone.CredentialRef || again.Host != clone.Host || !slices.Equal(again.Resources, clone.Resources) {
				t.Errorf("third Create returned %+v, want %+v", again, clone)
			}
			for m, n := range before {
				if calls.count(m) != n {
					t.Errorf("third Create called %s", m)
				}
			}
		})
	}
}

func TestDestroyIsIdempotent(t *testing.T) {
	tests := []struct {
		name    string
		crashAt string // the call after which the first Destroy dies; "" for none
	}{
		{"destroy twice", ""},
		{"crash after the instance is deleted", "DeleteDBInstance"},
		{"crash after the cluster is deleted", "DeleteDBCluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			spec := e.spec("orders")
			clone, _, err := e.create(spec)
			if err != nil {
				t.Fatal(err)
			}
			e.crashAt(map[string]int{tt.crashAt: 1})
			err = rec.Err(e.p.Destroy(e.ctx, spec.RequestID))
			if tt.crashAt != "" && !errors.Is(err, errCrash) {
				t.Fatalf("first Destroy: %v, want the simulated crash", err)
			}
			if tt.crashAt == "" && err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := rec.Err(e.p.Destroy(e.ctx, spec.RequestID)); err != nil {
					t.Fatalf("Destroy #%d after the first: %v", i+2, err)
				}
			}
			if n := e.clustersOf(spec.RequestID); n != 0 {
				t.Errorf("%d clusters left", n)
			}
			if _, err := e.store.Resolve(e.ctx, clone.CredentialRef); !errors.Is(rec.Err(err), ErrNotFound) {
				t.Errorf("secret after Destroy: %v", err)
			}
		})
	}
}

func TestFinalSnapshotIsTakenThenSweptAfterItsRetention(t *testing.T) {
	e := newEnv(t)
	e.makeSourceCluster()
	e.makeSnapshot(e.sourceCluster + "-daily") // not clonebot's: never swept
	e.p.cfg.FinalSnapshot = true
	start := testenv.Now()
	gone, live := e.spec("orders"), e.spec("orders")
	live.ExpiresAt = start.Add(30 * 24 * time.Hour) // outlives every sweep below
	for _, s := range []provisioner.Spec{gone, live} {
		if _, _, err := e.create(s); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func(id string) bool {
		t.Helper()
		out, err := e.clients.RDS.DescribeDBClusterSnapshots(e.ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: sdkaws.String(id)})
		var nf *rdstypes.DBClusterSnapshotNotFoundFault
		if errors.As(err, &nf) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return len(out.DBClusterSnapshots) == 1
	}
	deleteSnapshot := func(id string) {
		t.Cleanup(func() {
			_, _ = e.clients.RDS.DeleteDBClusterSnapshot(context.Background(), &rds.DeleteDBClusterSnapshotInput{DBClusterSnapshotIdentifier: sdkaws.String(id)})
		})
	}

	// The destroyed clone leaves a final snapshot behind.
	calls := e.crashAt(nil)
	if err := rec.Err(e.p.Destroy(e.ctx, gone.RequestID)); err != nil {
		t.Fatal(err)
	}
	n, _ := namesFor(gone.RequestID)
	deleteSnapshot(n.finalSnapshot)
	in, _ := calls.input("DeleteDBCluster").(*rds.DeleteDBClusterInput)
	if in == nil || sdkaws.ToBool(in.SkipFinalSnapshot) || sdkaws.ToString(in.FinalDBSnapshotIdentifier) != n.finalSnapshot {
		t.Fatalf("DeleteDBCluster sent %+v, want a final snapshot %s", in, n.finalSnapshot)
	}
	if !snapshot(n.finalSnapshot) {
		t.Fatalf("no final snapshot %s", n.finalSnapshot)
	}
	// A snapshot under the live clone's final name, its cluster still there (as while a
	// cluster is being deleted): not swept.
	ln, _ := namesFor(live.RequestID)
	if _, err := e.clients.RDS.CreateDBClusterSnapshot(e.ctx, &rds.CreateDBClusterSnapshotInput{
		DBClusterIdentifier: sdkaws.String(ln.cluster), DBClusterSnapshotIdentifier: sdkaws.String(ln.finalSnapshot),
		Tags: tagSet{{TagManagedBy, ManagedBy}}.rds(),
	}); err != nil {
		t.Fatal(err)
	}
	deleteSnapshot(ln.finalSnapshot)
	known := func(id string) bool { return id == live.RequestID }

	// Within the retention, the final snapshot stays.
	e.p.Now = func() time.Time { return start.Add(DefaultFinalSnapshotRetention - time.Hour) }
	if _, err := e.p.Sweep(e.ctx, known); err != nil {
		t.Fatal(rec.Err(err))
	}
	if !snapshot(n.finalSnapshot) {
		t.Fatal("the final snapshot was swept within its retention")
	}

	// After it, the final snapshot goes; the live clone's and the source's own stay.
	e.p.Now = func() time.Time { return start.Add(DefaultFinalSnapshotRetention + time.Minute) }
	if _, err := e.p.Sweep(e.ctx, known); err != nil {
		t.Fatal(rec.Err(err))
	}
	if snapshot(n.finalSnapshot) {
		t.Error("the final snapshot of a clone that is gone survived its retention")
	}
	if !snapshot(ln.finalSnapshot) || !snapshot(e.sourceCluster+"-daily") {
		t.Error("a snapshot of a live cluster, or one clonebot did not take, was swept")
	}
	if in, _ := calls.input("DeleteDBClusterSnapshot").(*rds.DeleteDBClusterSnapshotInput); in == nil || calls.count("DeleteDBClusterSnapshot") != 1 {
		t.Errorf("DeleteDBClusterSnapshot called %d times, want once", calls.count("DeleteDBClusterSnapshot"))
	}
}

func TestCreateRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		change func(*provisioner.Spec)
		want   error
	}{
		{"unknown source", func(s *provisioner.Spec) { s.Source = "nope" }, provisioner.ErrUnknownSource},
		{"strategy the source is not configured for", func(s *provisioner.Spec) { s.Strategy = provisioner.StrategySnapshot }, ErrStrategyMismatch},
		{"request id that cannot name a cluster", func(s *provisioner.Spec) { s.RequestID = "req_1" }, ErrBadRequestID},
		{"no expiry", func(s *provisioner.Spec) { s.ExpiresAt = time.Time{} }, ErrNoExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := e.spec("orders")
			tt.change(&spec)
			if _, err := e.p.Create(e.ctx, spec, nil); !errors.Is(rec.Err(err), tt.want) {
				t.Errorf("Create: %v, want %v", err, tt.want)
			}
			if len(e.generated()) != 0 || e.secretsOf(spec.RequestID) != 0 {
				t.Errorf("something was made for a refused request")
			}
		})
	}
}

func TestExtendRewritesDeleteAfter(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("orders")
	if _, _, err := e.create(spec); err != nil {
		t.Fatal(err)
	}
	later := spec.ExpiresAt.Add(3 * time.Hour)
	if err := rec.Err(e.p.Extend(e.ctx, spec.RequestID, later)); err != nil {
		t.Fatal(err)
	}
	want := later.UTC().Format(time.RFC3339)
	n, _ := namesFor(spec.RequestID)
	if got := e.cluster(n.cluster).tags[TagDeleteAfter]; got != want {
		t.Errorf("cluster delete-after = %q, want %q", got, want)
	}
	inst, err := e.p.describeInstance(e.ctx, n.instance)
	if err != nil {
		t.Fatal(err)
	}
	if got := rdsTagMap(inst.TagList)[TagDeleteAfter]; got != want {
		t.Errorf("instance delete-after = %q, want %q", got, want)
	}
	secret, err := e.clients.Secrets.DescribeSecret(e.ctx, &secretsmanager.DescribeSecretInput{SecretId: sdkaws.String(n.secret)})
	if err != nil {
		t.Fatal(err)
	}
	if got := secretTagMap(secret.Tags)[TagDeleteAfter]; got != want {
		t.Errorf("secret delete-after = %q, want %q", got, want)
	}
	if got := e.cluster(n.cluster).tags[TagRequestID]; got != spec.RequestID {
		t.Errorf("Extend lost the other tags: request-id = %q", got)
	}

	if err := rec.Err(e.p.Destroy(e.ctx, spec.RequestID)); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Extend(e.ctx, spec.RequestID, later); !errors.Is(rec.Err(err), ErrNotFound) {
		t.Errorf("Extend of a destroyed clone: %v, want ErrNotFound", err)
	}
}

func TestSweepDestroysOrphansAndLeavesLiveClones(t *testing.T) {
	e := newEnv(t)
	live, orphan, expired := e.spec("orders"), e.spec("orders"), e.spec("orders")
	expired.ExpiresAt = testenv.Now().AddDate(-2, 0, 0) // long past, whatever the day
	for _, s := range []provisioner.Spec{live, orphan, expired} {
		if _, _, err := e.create(s); err != nil {
			t.Fatal(err)
		}
	}
	// A secret left alone by a crash before its cluster was made is an orphan too.
	lonely := e.spec("orders")
	e.crashAt(map[string]int{"CreateSecret": 1})
	if _, _, err := e.create(lonely); !errors.Is(err, errCrash) {
		t.Fatalf("Create: %v, want the simulated crash", err)
	}
	e.p.Now = func() time.Time { return live.ExpiresAt.Add(-time.Minute) }
	known := func(id string) bool { return id != orphan.RequestID && id != lonely.RequestID }

	destroyed, err := e.p.Sweep(e.ctx, known)
	if err != nil {
		t.Fatal(rec.Err(err))
	}
	want := []string{orphan.RequestID, expired.RequestID, lonely.RequestID}
	slices.Sort(want)
	if !slices.Equal(destroyed, want) {
		t.Errorf("Sweep destroyed %q, want %q", destroyed, want)
	}
	for _, s := range []provisioner.Spec{orphan, expired, lonely} {
		if e.clustersOf(s.RequestID) != 0 || e.secretsOf(s.RequestID) != 0 {
			t.Errorf("%s survived the sweep", s.RequestID)
		}
	}
	if e.clustersOf(live.RequestID) != 1 || e.secretsOf(live.RequestID) != 1 {
		t.Errorf("the live clone was swept")
	}
	again, err := e.p.Sweep(e.ctx, known)
	if err != nil || len(again) != 0 {
		t.Errorf("second Sweep destroyed %q (%v), want nothing", again, err)
	}

	// Once the clock passes the live clone's delete-after, it goes too.
	e.p.Now = func() time.Time { return live.ExpiresAt.Add(time.Second) }
	destroyed, err = e.p.Sweep(e.ctx, known)
	if err != nil || !slices.Equal(destroyed, []string{live.RequestID}) {
		t.Errorf("Sweep after expiry destroyed %q (%v), want the live clone", destroyed, rec.Err(err))
	}
}

// busyRDS refuses the first delete of each kind the way AWS refuses to delete what is still
// being created (moto makes everything available at once, so it never does).
type busyRDS struct {
	rdsAPI
	refused map[string]int
}

func (b busyRDS) DeleteDBInstance(ctx context.Context, in *rds.DeleteDBInstanceInput, o ...func(*rds.Options)) (*rds.DeleteDBInstanceOutput, error) {
	if b.refused["DeleteDBInstance"]++; b.refused["DeleteDBInstance"] == 1 {
		return nil, &rdstypes.InvalidDBInstanceStateFault{Message: sdkaws.String("instance is creating")}
	}
	return b.rdsAPI.DeleteDBInstance(ctx, in, o...)
}

func (b busyRDS) DeleteDBCluster(ctx context.Context, in *rds.DeleteDBClusterInput, o ...func(*rds.Options)) (*rds.DeleteDBClusterOutput, error) {
	if b.refused["DeleteDBCluster"]++; b.refused["DeleteDBCluster"] == 1 {
		return nil, &rdstypes.InvalidDBClusterStateFault{Message: sdkaws.String("cluster is creating")}
	}
	return b.rdsAPI.DeleteDBCluster(ctx, in, o...)
}

func TestDestroyWaitsForWhatIsStillBeingCreated(t *testing.T) {
	e := newEnv(t)
	spec := e.spec("orders")
	if _, _, err := e.create(spec); err != nil {
		t.Fatal(err)
	}
	busy := busyRDS{rdsAPI: e.p.rds, refused: map[string]int{}}
	e.p.rds = busy
	if err := rec.Err(e.p.Destroy(e.ctx, spec.RequestID)); err != nil {
		t.Fatal(err)
	}
	if busy.refused["DeleteDBInstance"] != 2 || busy.refused["DeleteDBCluster"] != 2 {
		t.Errorf("deletes tried %v, want each refused once then retried", busy.refused)
	}
	if e.clustersOf(spec.RequestID) != 0 {
		t.Errorf("the cluster survived")
	}
}

func TestAccount(t *testing.T) {
	e := newEnv(t)
	account, err := e.p.Account(e.ctx)
	if err != nil || len(account) != 12 {
		t.Errorf("Account() = %q, %v; want a 12-digit account", account, rec.Err(err))
	}
}

// The leak check itself runs at the end of every test (newEnv). This test drives the paths
// where a password is nearest to an error: a failed restore after the secret was stored,
// and a secret whose content is not valid JSON.
func TestNoPasswordInLogsOrErrors(t *testing.T) {
	e := newEnv(t)
	e.makeSourceCluster()
	spec := e.spec("ledger")
	spec.Backup.Location = "no-such-snapshot"
	if _, _, err := e.create(spec); err == nil {
		t.Fatal("Create from a missing snapshot succeeded")
	}
	if len(e.generated()) != 1 {
		t.Fatalf("the secret was not stored before the restore failed")
	}

	broken := `{"password": "` + e.generated()[0] + `", "port": "not a number"`
	name := "clonebot/" + testenv.UniqueName("broken-")
	out, err := e.clients.Secrets.CreateSecret(e.ctx, &secretsmanager.CreateSecretInput{Name: sdkaws.String(name), SecretString: sdkaws.String(broken)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.clients.Secrets.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: out.ARN, ForceDeleteWithoutRecovery: sdkaws.Bool(true)})
	})
	if _, err := e.store.Resolve(e.ctx, sdkaws.ToString(out.ARN)); rec.Err(err) == nil {
		t.Error("Resolve of a broken secret succeeded")
	}
	if secrets, texts := rec.Counts(); secrets == 0 || texts < 5 {
		t.Errorf("the recorder saw %d secrets and %d texts; the check looked at nothing", secrets, texts)
	}
}

// TestThinCopyOfGoldenCopy: a golden copy is made like any clone of its source (here a
// restore source, which the agent fills); a clone of it is an Aurora copy-on-write clone of its
// cluster with an instance and a password of its own.
func TestThinCopyOfGoldenCopy(t *testing.T) {
	e := newEnv(t)
	golden := e.spec("orders")
	golden.RequestID = approvals.NewGoldenID()
	golden.Backup = provisioner.Backup{Kind: provisioner.BackupFile}
	if _, _, err := e.create(golden); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Seal(e.ctx, golden.RequestID); err != nil {
		t.Fatal(err)
	}
	calls := e.crashAt(nil)
	spec := e.spec("orders")
	spec.Golden = golden.RequestID
	clone, steps, err := e.create(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(steps, wantSteps) {
		t.Errorf("progress = %q, want %q", steps, wantSteps)
	}
	g, _ := namesFor(golden.RequestID)
	n, _ := namesFor(spec.RequestID)
	in, _ := calls.input("RestoreDBClusterToPointInTime").(*rds.RestoreDBClusterToPointInTimeInput)
	if calls.count("CreateDBCluster") != 0 || in == nil {
		t.Fatalf("the clone was not made by RestoreDBClusterToPointInTime (CreateDBCluster calls: %d)", calls.count("CreateDBCluster"))
	}
	// moto keeps neither the restore type nor the network settings: the request is checked.
	if sdkaws.ToString(in.RestoreType) != "copy-on-write" || !sdkaws.ToBool(in.UseLatestRestorableTime) || in.RestoreToTime != nil ||
		sdkaws.ToString(in.SourceDBClusterIdentifier) != g.cluster || sdkaws.ToString(in.DBClusterIdentifier) != n.cluster ||
		sdkaws.ToString(in.DBSubnetGroupName) != "clonebot-private" || !slices.Equal(in.VpcSecurityGroupIds, e.cfg.VPCSecurityGroupIDs) ||
		rdsTagMap(in.Tags)[TagRequestID] != spec.RequestID {
		t.Errorf("RestoreDBClusterToPointInTime sent %+v", in)
	}
	checkPasswordSet(t, calls, e.generated()[1])
	inst, _ := calls.input("CreateDBInstance").(*rds.CreateDBInstanceInput)
	if inst == nil || sdkaws.ToString(inst.DBClusterIdentifier) != n.cluster || sdkaws.ToBool(inst.PubliclyAccessible) {
		t.Errorf("CreateDBInstance sent %+v", inst)
	}
	if c := e.cluster(n.cluster); c.status != "available" || clone.Database != "orders" || clone.CredentialRef == "" {
		t.Errorf("clone %+v, cluster %+v", clone, c)
	}
	if !e.p.CopiesDependOnGolden() {
		t.Error("an Aurora clone shares its golden copy's pages: it depends on it")
	}
}
