package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.uber.org/zap"

	"github.com/clonebot/clonebot/provisioner"
)

// ErrStrategyMismatch is returned when a Spec asks for a strategy its source is not configured for.
var ErrStrategyMismatch = errors.New("strategy does not match the source's configuration")

// ErrBeingDestroyed is returned by Create when the request's cluster is being deleted.
var ErrBeingDestroyed = errors.New("clone is being destroyed")

// ErrNoExpiry is returned by Create for a Spec without ExpiresAt: every clone carries a
// delete-after tag.
var ErrNoExpiry = errors.New("spec has no expiry")

// MasterPasswordLength is the longest master password Aurora accepts (CreateDBCluster and
// ModifyDBCluster: 8 to 41 characters), shorter than provisioner.PasswordLength.
const MasterPasswordLength = 41

// NewMasterPassword returns the first MasterPasswordLength characters of a
// provisioner.GeneratePassword password: each character is still uniformly drawn from 66
// symbols by crypto/rand (about 248 bits).
func NewMasterPassword() (provisioner.Password, error) {
	pw, err := provisioner.GeneratePassword()
	if err != nil {
		return provisioner.Password{}, err
	}
	return provisioner.NewPassword(pw.Reveal()[:MasterPasswordLength]), nil
}

// secretEngine is the engine field of the secret, as RDS writes it for PostgreSQL.
const secretEngine = "postgres"

// Provisioner makes and destroys clones as Aurora PostgreSQL clusters.
type Provisioner struct {
	cfg       Config
	rds       rdsAPI
	secrets   secretsAPI
	sts       stsAPI
	catalogue *Catalogue
	log       *zap.Logger

	// Now is the clock Sweep compares delete-after tags with.
	Now func() time.Time
	// NewPassword makes a clone's master password (NewMasterPassword by default).
	NewPassword func() (provisioner.Password, error)
}

var _ provisioner.Provisioner = (*Provisioner)(nil)

// New returns a Provisioner using the clients c. It returns cfg.Validate's error, if any.
func New(cfg Config, c Clients, log *zap.Logger) (*Provisioner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Provisioner{
		cfg:         cfg,
		rds:         c.RDS,
		secrets:     c.Secrets,
		sts:         c.STS,
		catalogue:   newCatalogue(cfg, c.RDS, c.S3),
		log:         log,
		Now:         time.Now,
		NewPassword: NewMasterPassword,
	}, nil
}

// Catalogue returns the backup catalogue of the configured sources.
func (p *Provisioner) Catalogue() *Catalogue { return p.catalogue }

// Account returns the AWS account the credentials act in, so startup and /readyz can show
// that the credential chain works.
func (p *Provisioner) Account(ctx context.Context) (string, error) {
	out, err := p.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("aws caller identity: %w", err)
	}
	return sdkaws.ToString(out.Account), nil
}

// Create makes the clone for spec.RequestID or finishes the one a previous call started.
// Every step first looks for what it would make, by the name derived from the request id.
// It returns provisioner.ErrUnknownSource, ErrStrategyMismatch, ErrBadRequestID,
// ErrNoExpiry, ErrBeingDestroyed, or the AWS error of the step that failed.
func (p *Provisioner) Create(ctx context.Context, spec provisioner.Spec, progress provisioner.ProgressFunc) (provisioner.Clone, error) {
	n, err := namesFor(spec.RequestID)
	if err != nil {
		return provisioner.Clone{}, err
	}
	src, ok := p.cfg.Sources[spec.Source]
	if !ok {
		return provisioner.Clone{}, fmt.Errorf("create %s: source %q: %w", spec.RequestID, spec.Source, provisioner.ErrUnknownSource)
	}
	if spec.Strategy == "" {
		spec.Strategy = src.Strategy
	}
	if spec.Strategy != src.Strategy {
		return provisioner.Clone{}, fmt.Errorf("create %s: source %s is cloned by %s, not %s: %w", spec.RequestID, spec.Source, src.Strategy, spec.Strategy, ErrStrategyMismatch)
	}
	if spec.ExpiresAt.IsZero() {
		return provisioner.Clone{}, fmt.Errorf("create %s: %w", spec.RequestID, ErrNoExpiry)
	}
	clone, err := p.create(ctx, n, spec, src, progress)
	if err != nil {
		return provisioner.Clone{}, fmt.Errorf("create %s: %w", spec.RequestID, err)
	}
	return clone, nil
}

// create runs Create's steps for a checked spec.
func (p *Provisioner) create(ctx context.Context, n names, spec provisioner.Spec, src SourceConfig, progress provisioner.ProgressFunc) (provisioner.Clone, error) {
	log := p.log.With(zap.String("request_id", spec.RequestID), zap.String("cluster", n.cluster), zap.String("strategy", string(spec.Strategy)))
	tags := tagsFor(spec)

	// step 1: the secret first, so that no cluster ever gets a password nobody stored.
	secret, err := p.ensureSecret(ctx, n, tags, provisioner.Credentials{
		Engine: secretEngine, Port: defaultPort, Username: p.cfg.MasterUsername, DBName: src.Database,
	})
	if err != nil {
		return provisioner.Clone{}, err
	}
	log.Info("secret stored", zap.String("secret_arn", secret.arn))
	progress.Report("secret stored", n.secret)

	// step 2: the cluster, made by the source's strategy unless it exists.
	cluster, created, err := p.ensureCluster(ctx, n, spec, src, tags, secret.creds.Password)
	if err != nil {
		return provisioner.Clone{}, err
	}
	if created || sdkaws.ToString(cluster.Status) != "available" {
		log.Info("cluster creating", zap.Bool("created_now", created))
		progress.Report("cluster creating", n.cluster)
	}

	// step 3: wait for the cluster.
	if cluster, err = p.waitCluster(ctx, n.cluster); err != nil {
		return provisioner.Clone{}, err
	}
	log.Info("cluster available")
	progress.Report("cluster available", n.cluster)

	// step 4: a cluster restored from another keeps that one's master password: set ours.
	// The secret gets the cluster's host only after this step, so a secret without it means
	// the password may not be set yet.
	endpoint := sdkaws.ToString(cluster.Endpoint)
	copied := spec.Strategy != provisioner.StrategyRestore || spec.Golden != ""
	if copied && (created || secret.creds.Host != endpoint) {
		if err := p.setMasterPassword(ctx, n.cluster, secret.creds.Password); err != nil {
			return provisioner.Clone{}, err
		}
		if cluster, err = p.waitCluster(ctx, n.cluster); err != nil {
			return provisioner.Clone{}, err
		}
		log.Info("master password set")
	}

	// step 5: the instance, unless it exists.
	instance, created, err := p.ensureInstance(ctx, n, tags)
	if err != nil {
		return provisioner.Clone{}, err
	}
	if created || sdkaws.ToString(instance.DBInstanceStatus) != "available" {
		log.Info("instance creating", zap.String("instance", n.instance), zap.Bool("created_now", created))
		progress.Report("instance creating", n.instance)
	}

	// step 6: wait for the instance.
	if err := p.waitInstance(ctx, n.instance); err != nil {
		return provisioner.Clone{}, err
	}
	log.Info("instance available", zap.String("instance", n.instance))
	progress.Report("instance available", n.instance)

	// step 7: complete the secret with where the clone is and who its master user is.
	creds := secret.creds
	creds.Host = endpoint
	creds.Port = int(sdkaws.ToInt32(cluster.Port))
	creds.Username = sdkaws.ToString(cluster.MasterUsername)
	if creds != secret.creds {
		if err := p.writeSecret(ctx, storedSecret{arn: secret.arn, creds: creds}); err != nil {
			return provisioner.Clone{}, err
		}
	}
	return provisioner.Clone{
		RequestID:     spec.RequestID,
		Host:          creds.Host,
		Port:          creds.Port,
		Database:      creds.DBName,
		User:          creds.Username,
		CredentialRef: secret.arn,
		Resources:     []string{n.cluster, n.instance, n.secret},
	}, nil
}

// ensureCluster returns the request's cluster, making it when it does not exist; created
// says whether this call made it.
func (p *Provisioner) ensureCluster(ctx context.Context, n names, spec provisioner.Spec, src SourceConfig, tags tagSet, password provisioner.Password) (rdstypes.DBCluster, bool, error) {
	c, err := p.describeCluster(ctx, n.cluster)
	if err == nil {
		if sdkaws.ToString(c.Status) == "deleting" {
			return c, false, fmt.Errorf("cluster %s: %w", n.cluster, ErrBeingDestroyed)
		}
		return c, false, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return c, false, err
	}
	switch {
	case spec.Golden != "":
		err = p.cloneGolden(ctx, n, spec.Golden, tags)
	case spec.Strategy == provisioner.StrategyRestore:
		err = p.createEmptyCluster(ctx, n, src, tags, password)
	case spec.Strategy == provisioner.StrategyFastClone:
		err = p.cloneCluster(ctx, n, spec, src, tags)
	case spec.Strategy == provisioner.StrategySnapshot:
		err = p.restoreSnapshot(ctx, n, spec, tags)
	}
	var exists *rdstypes.DBClusterAlreadyExistsFault
	if errors.As(err, &exists) {
		// Made by a concurrent call between our describe and our create.
		c, err := p.describeCluster(ctx, n.cluster)
		return c, false, err
	}
	if err != nil {
		return c, false, err
	}
	c, err = p.describeCluster(ctx, n.cluster)
	return c, true, err
}

func (p *Provisioner) createEmptyCluster(ctx context.Context, n names, src SourceConfig, tags tagSet, password provisioner.Password) error {
	_, err := p.rds.CreateDBCluster(ctx, &rds.CreateDBClusterInput{
		DBClusterIdentifier: sdkaws.String(n.cluster),
		Engine:              sdkaws.String(p.cfg.Engine),
		EngineVersion:       optional(p.cfg.EngineVersion),
		DatabaseName:        sdkaws.String(src.Database),
		MasterUsername:      sdkaws.String(p.cfg.MasterUsername),
		MasterUserPassword:  sdkaws.String(password.Reveal()),
		StorageEncrypted:    sdkaws.Bool(true),
		KmsKeyId:            optional(p.cfg.KMSKeyID),
		DBSubnetGroupName:   sdkaws.String(p.cfg.DBSubnetGroup),
		VpcSecurityGroupIds: p.cfg.VPCSecurityGroupIDs,
		DeletionProtection:  sdkaws.Bool(false),
		CopyTagsToSnapshot:  sdkaws.Bool(true),
		Tags:                tags.rds(),
	})
	if err != nil {
		return fmt.Errorf("create cluster %s: %w", n.cluster, err)
	}
	return nil
}

// cloneCluster makes a copy-on-write clone of the source cluster at spec.Backup.Date, or at
// the latest restorable time when the date is zero. The clone shares the source's encrypted
// storage pages, so it keeps the source's KMS key.
func (p *Provisioner) cloneCluster(ctx context.Context, n names, spec provisioner.Spec, src SourceConfig, tags tagSet) error {
	if err := p.copyOnWrite(ctx, n, src.SourceCluster, spec.Backup.Date, tags); err != nil {
		return fmt.Errorf("clone cluster %s to %s: %w", src.SourceCluster, n.cluster, err)
	}
	return nil
}

// cloneGolden makes the clone a copy-on-write clone of golden copy golden's cluster, at its
// latest restorable time: the golden copy is masked and verified already, so the clone is
// ready once it has its instance and password.
func (p *Provisioner) cloneGolden(ctx context.Context, n names, golden string, tags tagSet) error {
	g, err := namesFor(golden)
	if err != nil {
		return err
	}
	if err := p.copyOnWrite(ctx, n, g.cluster, time.Time{}, tags); err != nil {
		return fmt.Errorf("clone golden copy %s to %s: %w", g.cluster, n.cluster, err)
	}
	return nil
}

// copyOnWrite makes n's cluster a copy-on-write clone of cluster source at at (zero: its
// latest restorable time).
func (p *Provisioner) copyOnWrite(ctx context.Context, n names, source string, at time.Time, tags tagSet) error {
	in := &rds.RestoreDBClusterToPointInTimeInput{
		DBClusterIdentifier:       sdkaws.String(n.cluster),
		SourceDBClusterIdentifier: sdkaws.String(source),
		RestoreType:               sdkaws.String("copy-on-write"),
		DBSubnetGroupName:         sdkaws.String(p.cfg.DBSubnetGroup),
		VpcSecurityGroupIds:       p.cfg.VPCSecurityGroupIDs,
		DeletionProtection:        sdkaws.Bool(false),
		CopyTagsToSnapshot:        sdkaws.Bool(true),
		Tags:                      tags.rds(),
	}
	if at.IsZero() {
		in.UseLatestRestorableTime = sdkaws.Bool(true)
	} else {
		in.RestoreToTime = sdkaws.Time(at.UTC())
	}
	_, err := p.rds.RestoreDBClusterToPointInTime(ctx, in)
	return err
}

// Seal has nothing to do on Aurora: a golden copy's cluster keeps its instance (Aurora clones
// only a cluster that has one) and nobody but clonebot has its credentials. Implements
// provisioner.GoldenBackend.
func (p *Provisioner) Seal(context.Context, string) error { return nil }

// CopiesDependOnGolden is true: an Aurora clone shares the golden copy's storage pages
// (copy-on-write), so clonebot keeps a golden copy until the last clone made from it is gone.
func (p *Provisioner) CopiesDependOnGolden() bool { return true }

var _ provisioner.GoldenBackend = (*Provisioner)(nil)

// restoreSnapshot restores the snapshot named by spec.Backup.Location, or the catalogue's
// snapshot of spec.Backup.Date when the location is empty.
func (p *Provisioner) restoreSnapshot(ctx context.Context, n names, spec provisioner.Spec, tags tagSet) error {
	snapshot := spec.Backup.Location
	if snapshot == "" {
		b, err := p.catalogue.Find(ctx, spec.Source, spec.Backup.Date)
		if err != nil {
			return err
		}
		snapshot = b.Location
	}
	_, err := p.rds.RestoreDBClusterFromSnapshot(ctx, &rds.RestoreDBClusterFromSnapshotInput{
		DBClusterIdentifier: sdkaws.String(n.cluster),
		SnapshotIdentifier:  sdkaws.String(snapshot),
		Engine:              sdkaws.String(p.cfg.Engine),
		KmsKeyId:            optional(p.cfg.KMSKeyID),
		DBSubnetGroupName:   sdkaws.String(p.cfg.DBSubnetGroup),
		VpcSecurityGroupIds: p.cfg.VPCSecurityGroupIDs,
		DeletionProtection:  sdkaws.Bool(false),
		CopyTagsToSnapshot:  sdkaws.Bool(true),
		Tags:                tags.rds(),
	})
	if err != nil {
		return fmt.Errorf("restore snapshot %s to %s: %w", snapshot, n.cluster, err)
	}
	return nil
}

func (p *Provisioner) setMasterPassword(ctx context.Context, cluster string, password provisioner.Password) error {
	_, err := p.rds.ModifyDBCluster(ctx, &rds.ModifyDBClusterInput{
		DBClusterIdentifier: sdkaws.String(cluster),
		MasterUserPassword:  sdkaws.String(password.Reveal()),
		ApplyImmediately:    sdkaws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("set master password of %s: %w", cluster, err)
	}
	return nil
}

// ensureInstance returns the request's instance, making it when it does not exist.
func (p *Provisioner) ensureInstance(ctx context.Context, n names, tags tagSet) (rdstypes.DBInstance, bool, error) {
	inst, err := p.describeInstance(ctx, n.instance)
	if !errors.Is(err, ErrNotFound) {
		return inst, false, err
	}
	out, err := p.rds.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: sdkaws.String(n.instance),
		DBClusterIdentifier:  sdkaws.String(n.cluster),
		DBInstanceClass:      sdkaws.String(p.cfg.InstanceClass),
		Engine:               sdkaws.String(p.cfg.Engine),
		PubliclyAccessible:   sdkaws.Bool(false),
		Tags:                 tags.rds(),
	})
	var exists *rdstypes.DBInstanceAlreadyExistsFault
	if errors.As(err, &exists) {
		inst, err := p.describeInstance(ctx, n.instance)
		return inst, false, err
	}
	if err != nil {
		return inst, false, fmt.Errorf("create instance %s: %w", n.instance, err)
	}
	return *out.DBInstance, true, nil
}

// describeCluster returns the cluster called id; ErrNotFound when there is none.
func (p *Provisioner) describeCluster(ctx context.Context, id string) (rdstypes.DBCluster, error) {
	out, err := p.rds.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: sdkaws.String(id)})
	var nf *rdstypes.DBClusterNotFoundFault
	switch {
	case errors.As(err, &nf):
		return rdstypes.DBCluster{}, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	case err != nil:
		return rdstypes.DBCluster{}, fmt.Errorf("describe cluster %s: %w", id, err)
	case len(out.DBClusters) == 0:
		return rdstypes.DBCluster{}, fmt.Errorf("cluster %s: %w", id, ErrNotFound)
	}
	return out.DBClusters[0], nil
}

// describeInstance returns the instance called id; ErrNotFound when there is none.
func (p *Provisioner) describeInstance(ctx context.Context, id string) (rdstypes.DBInstance, error) {
	out, err := p.rds.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: sdkaws.String(id)})
	var nf *rdstypes.DBInstanceNotFoundFault
	switch {
	case errors.As(err, &nf):
		return rdstypes.DBInstance{}, fmt.Errorf("instance %s: %w", id, ErrNotFound)
	case err != nil:
		return rdstypes.DBInstance{}, fmt.Errorf("describe instance %s: %w", id, err)
	case len(out.DBInstances) == 0:
		return rdstypes.DBInstance{}, fmt.Errorf("instance %s: %w", id, ErrNotFound)
	}
	return out.DBInstances[0], nil
}

func (p *Provisioner) waitCluster(ctx context.Context, id string) (rdstypes.DBCluster, error) {
	w := rds.NewDBClusterAvailableWaiter(p.rds, func(o *rds.DBClusterAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = p.cfg.PollInterval, p.cfg.PollInterval
	})
	out, err := w.WaitForOutput(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: sdkaws.String(id)}, p.cfg.WaitTimeout)
	if err != nil {
		return rdstypes.DBCluster{}, fmt.Errorf("wait for cluster %s: %w", id, err)
	}
	if len(out.DBClusters) == 0 {
		return rdstypes.DBCluster{}, fmt.Errorf("wait for cluster %s: %w", id, ErrNotFound)
	}
	return out.DBClusters[0], nil
}

func (p *Provisioner) waitInstance(ctx context.Context, id string) error {
	w := rds.NewDBInstanceAvailableWaiter(p.rds, func(o *rds.DBInstanceAvailableWaiterOptions) {
		o.MinDelay, o.MaxDelay = p.cfg.PollInterval, p.cfg.PollInterval
	})
	if err := w.Wait(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: sdkaws.String(id)}, p.cfg.WaitTimeout); err != nil {
		return fmt.Errorf("wait for instance %s: %w", id, err)
	}
	return nil
}

// optional returns nil for an empty setting, so the API applies its default.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return sdkaws.String(s)
}
