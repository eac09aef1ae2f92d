package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clonebot/clonebot/internal/leakcheck"
	"github.com/clonebot/clonebot/internal/testenv"
	"github.com/clonebot/clonebot/provisioner"
)

// TestMain fails the run if any generated password reached any log line, error or progress
// report of any test in this package.
func TestMain(m *testing.M) { testenv.Main(m, rec.Check) }

// rec sees every log line, error and progress report of every test in this package, and
// every password the package generated. Each test also fails at its end if any of that text
// holds a password (see newEnv).
var rec = leakcheck.New()

// env is one test's AWS world on moto: clients, a config with one source per strategy, and
// the Provisioner under test.
type env struct {
	t       *testing.T
	ctx     context.Context
	clients Clients
	cfg     Config
	p       *Provisioner
	store   *SecretStore
	// sourceCluster is the "production" cluster cloned by fast-clone and snapshot.
	sourceCluster string
	bucket        string
	// passwords are the passwords the Provisioner generated, in order.
	mu        sync.Mutex
	passwords []string
}

const testKMSKey = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"

func newEnv(t *testing.T) *env {
	t.Helper()
	a := testenv.Moto(t)
	ctx := context.Background()
	e := &env{
		t:             t,
		ctx:           ctx,
		sourceCluster: testenv.UniqueName("prod-"),
		bucket:        testenv.UniqueName("backups-"),
	}
	e.cfg = Config{
		Region:              a.Region,
		EndpointURL:         a.Endpoint,
		KMSKeyID:            testKMSKey,
		DBSubnetGroup:       "clonebot-private",
		VPCSecurityGroupIDs: []string{"sg-0123456789abcdef0"},
		InstanceClass:       "db.r6g.large",
		EngineVersion:       "15.4",
		PollInterval:        time.Millisecond, // moto makes resources available at once
		WaitTimeout:         10 * time.Second,
		Sources: map[string]SourceConfig{
			"orders":   {Strategy: provisioner.StrategyRestore, Database: "orders", Backups: "s3://" + e.bucket + "/{source}/{date}/"},
			"payments": {Strategy: provisioner.StrategyFastClone, Database: "payments", SourceCluster: e.sourceCluster},
			"ledger":   {Strategy: provisioner.StrategySnapshot, Database: "ledger", SourceCluster: e.sourceCluster},
		},
	}
	clients, err := NewClients(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.clients = clients
	rec.LogOnFailure(t)
	p, err := New(e.cfg, clients, rec.Logger())
	if err != nil {
		t.Fatal(err)
	}
	p.NewPassword = func() (provisioner.Password, error) {
		pw, err := NewMasterPassword()
		rec.Secret(pw.Reveal())
		e.mu.Lock()
		e.passwords = append(e.passwords, pw.Reveal())
		e.mu.Unlock()
		return pw, err
	}
	e.p = p
	e.store = NewSecretStore(clients)
	t.Cleanup(func() {
		if leaks := rec.Leaks(); len(leaks) > 0 {
			t.Errorf("a generated password reached a log line or an error:\n%s", strings.Join(leaks, "\n"))
		}
	})
	return e
}

// makeSourceCluster creates the production cluster that fast-clone and snapshot copy.
func (e *env) makeSourceCluster() {
	e.t.Helper()
	_, err := e.clients.RDS.CreateDBCluster(e.ctx, &rds.CreateDBClusterInput{
		DBClusterIdentifier: sdkaws.String(e.sourceCluster),
		Engine:              sdkaws.String(EngineAuroraPostgres),
		EngineVersion:       sdkaws.String("15.4"),
		MasterUsername:      sdkaws.String("prodadmin"),
		MasterUserPassword:  sdkaws.String("not-a-generated-password"),
		DatabaseName:        sdkaws.String("payments"),
		StorageEncrypted:    sdkaws.Bool(true),
		KmsKeyId:            sdkaws.String(testKMSKey),
	})
	if err != nil {
		e.t.Fatalf("create source cluster: %v", err)
	}
	_, err = e.clients.RDS.CreateDBInstance(e.ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: sdkaws.String(e.sourceCluster + "-1"),
		DBClusterIdentifier:  sdkaws.String(e.sourceCluster),
		DBInstanceClass:      sdkaws.String("db.r6g.large"),
		Engine:               sdkaws.String(EngineAuroraPostgres),
	})
	if err != nil {
		e.t.Fatalf("create source instance: %v", err)
	}
	e.t.Cleanup(func() {
		ctx := context.Background()
		_, _ = e.clients.RDS.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: sdkaws.String(e.sourceCluster + "-1"), SkipFinalSnapshot: sdkaws.Bool(true)})
		_, _ = e.clients.RDS.DeleteDBCluster(ctx, &rds.DeleteDBClusterInput{DBClusterIdentifier: sdkaws.String(e.sourceCluster), SkipFinalSnapshot: sdkaws.Bool(true)})
	})
}

// makeSnapshot takes a manual snapshot of the source cluster.
func (e *env) makeSnapshot(id string) {
	e.t.Helper()
	if _, err := e.clients.RDS.CreateDBClusterSnapshot(e.ctx, &rds.CreateDBClusterSnapshotInput{
		DBClusterIdentifier:         sdkaws.String(e.sourceCluster),
		DBClusterSnapshotIdentifier: sdkaws.String(id),
	}); err != nil {
		e.t.Fatalf("create snapshot: %v", err)
	}
	e.t.Cleanup(func() {
		_, _ = e.clients.RDS.DeleteDBClusterSnapshot(context.Background(), &rds.DeleteDBClusterSnapshotInput{DBClusterSnapshotIdentifier: sdkaws.String(id)})
	})
}

// spec returns a request for source with a fresh request id, expiring in an hour.
func (e *env) spec(source string) provisioner.Spec {
	return provisioner.Spec{
		RequestID: testenv.UniqueName("req-"),
		Source:    source,
		Tier:      "dev",
		Requester: "U0123ABC",
		ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Second),
	}
}

// create runs Create, recording its error and progress, and destroys the clone at the end
// of the test.
func (e *env) create(spec provisioner.Spec) (provisioner.Clone, []string, error) {
	e.t.Helper()
	var steps []string
	clone, err := e.p.Create(e.ctx, spec, func(p provisioner.Progress) {
		rec.Text(p.Step + " " + p.Detail)
		steps = append(steps, p.Step)
	})
	rec.Text(fmt.Sprintf("%+v", clone))
	e.t.Cleanup(func() { _ = rec.Err(e.p.Destroy(context.Background(), spec.RequestID)) })
	return clone, steps, rec.Err(err)
}

type rdsCluster struct {
	id, status, endpoint, kms, masterUser string
	encrypted                             bool
	port                                  int
	members                               []string
	tags                                  map[string]string
}

// cluster describes a cluster as the test sees it; the zero value when it does not exist.
func (e *env) cluster(id string) rdsCluster {
	e.t.Helper()
	c, err := e.p.describeCluster(e.ctx, id)
	if errors.Is(err, ErrNotFound) {
		return rdsCluster{}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	out := rdsCluster{
		id: sdkaws.ToString(c.DBClusterIdentifier), status: sdkaws.ToString(c.Status),
		endpoint: sdkaws.ToString(c.Endpoint), kms: sdkaws.ToString(c.KmsKeyId),
		masterUser: sdkaws.ToString(c.MasterUsername), encrypted: sdkaws.ToBool(c.StorageEncrypted),
		port: int(sdkaws.ToInt32(c.Port)), tags: rdsTagMap(c.TagList),
	}
	for _, m := range c.DBClusterMembers {
		out.members = append(out.members, sdkaws.ToString(m.DBInstanceIdentifier))
	}
	return out
}

// clustersOf counts the clusters tagged with requestID.
func (e *env) clustersOf(requestID string) int {
	e.t.Helper()
	out, err := e.clients.RDS.DescribeDBClusters(e.ctx, &rds.DescribeDBClustersInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, c := range out.DBClusters {
		if rdsTagMap(c.TagList)[TagRequestID] == requestID {
			n++
		}
	}
	return n
}

// secretsOf counts the secrets tagged with requestID.
func (e *env) secretsOf(requestID string) int {
	e.t.Helper()
	out, err := e.clients.Secrets.ListSecrets(e.ctx, &secretsmanager.ListSecretsInput{})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, s := range out.SecretList {
		if secretTagMap(s.Tags)[TagRequestID] == requestID {
			n++
		}
	}
	return n
}

func (e *env) generated() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.passwords...)
}

// errCrash stands for the process dying right after an AWS call succeeded: the resource
// exists, but Create never saw the answer.
var errCrash = errors.New("simulated crash after the call")

// crashes counts calls by method name, keeps each method's last input, and fails the
// configured call of a method once, after it reached AWS.
type crashes struct {
	mu    sync.Mutex
	calls map[string]int
	last  map[string]any
	at    map[string]int // method → the call number that crashes
}

func newCrashes(at map[string]int) *crashes {
	return &crashes{calls: map[string]int{}, last: map[string]any{}, at: at}
}

func (c *crashes) after(method string, in any, err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[method]++
	c.last[method] = in
	if err == nil && c.at[method] == c.calls[method] {
		return errCrash
	}
	return err
}

func (c *crashes) input(method string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[method]
}

func (c *crashes) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// crashingRDS passes every call to the real client and crashes after the configured ones.
type crashingRDS struct {
	rdsAPI
	c *crashes
}

func (r crashingRDS) CreateDBCluster(ctx context.Context, in *rds.CreateDBClusterInput, o ...func(*rds.Options)) (*rds.CreateDBClusterOutput, error) {
	out, err := r.rdsAPI.CreateDBCluster(ctx, in, o...)
	return out, r.c.after("CreateDBCluster", in, err)
}

func (r crashingRDS) RestoreDBClusterToPointInTime(ctx context.Context, in *rds.RestoreDBClusterToPointInTimeInput, o ...func(*rds.Options)) (*rds.RestoreDBClusterToPointInTimeOutput, error) {
	out, err := r.rdsAPI.RestoreDBClusterToPointInTime(ctx, in, o...)
	return out, r.c.after("RestoreDBClusterToPointInTime", in, err)
}

func (r crashingRDS) RestoreDBClusterFromSnapshot(ctx context.Context, in *rds.RestoreDBClusterFromSnapshotInput, o ...func(*rds.Options)) (*rds.RestoreDBClusterFromSnapshotOutput, error) {
	out, err := r.rdsAPI.RestoreDBClusterFromSnapshot(ctx, in, o...)
	return out, r.c.after("RestoreDBClusterFromSnapshot", in, err)
}

func (r crashingRDS) ModifyDBCluster(ctx context.Context, in *rds.ModifyDBClusterInput, o ...func(*rds.Options)) (*rds.ModifyDBClusterOutput, error) {
	out, err := r.rdsAPI.ModifyDBCluster(ctx, in, o...)
	return out, r.c.after("ModifyDBCluster", in, err)
}

func (r crashingRDS) CreateDBInstance(ctx context.Context, in *rds.CreateDBInstanceInput, o ...func(*rds.Options)) (*rds.CreateDBInstanceOutput, error) {
	out, err := r.rdsAPI.CreateDBInstance(ctx, in, o...)
	return out, r.c.after("CreateDBInstance", in, err)
}

func (r crashingRDS) DeleteDBInstance(ctx context.Context, in *rds.DeleteDBInstanceInput, o ...func(*rds.Options)) (*rds.DeleteDBInstanceOutput, error) {
	out, err := r.rdsAPI.DeleteDBInstance(ctx, in, o...)
	return out, r.c.after("DeleteDBInstance", in, err)
}

func (r crashingRDS) DeleteDBCluster(ctx context.Context, in *rds.DeleteDBClusterInput, o ...func(*rds.Options)) (*rds.DeleteDBClusterOutput, error) {
	out, err := r.rdsAPI.DeleteDBCluster(ctx, in, o...)
	return out, r.c.after("DeleteDBCluster", in, err)
}

func (r crashingRDS) DeleteDBClusterSnapshot(ctx context.Context, in *rds.DeleteDBClusterSnapshotInput, o ...func(*rds.Options)) (*rds.DeleteDBClusterSnapshotOutput, error) {
	out, err := r.rdsAPI.DeleteDBClusterSnapshot(ctx, in, o...)
	return out, r.c.after("DeleteDBClusterSnapshot", in, err)
}

// crashingSecrets is crashingRDS for Secrets Manager.
type crashingSecrets struct {
	secretsAPI
	c *crashes
}

func (s crashingSecrets) CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, o ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	out, err := s.secretsAPI.CreateSecret(ctx, in, o...)
	return out, s.c.after("CreateSecret", in, err)
}

func (s crashingSecrets) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	out, err := s.secretsAPI.PutSecretValue(ctx, in, o...)
	return out, s.c.after("PutSecretValue", in, err)
}

// crashAt makes the env's Provisioner crash after the given calls and returns the counter.
func (e *env) crashAt(at map[string]int) *crashes {
	c := newCrashes(at)
	e.p.rds = crashingRDS{rdsAPI: e.p.rds, c: c}
	e.p.secrets = crashingSecrets{secretsAPI: e.p.secrets, c: c}
	return c
}
