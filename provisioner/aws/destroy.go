package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"go.uber.org/zap"
)

// Destroy removes the request's instances, its cluster (with a final snapshot when the
// config asks for one) and its secret. What is already gone, or already being deleted,
// counts as done. A failed step does not stop the later ones: the secret is removed even
// when the cluster could not be, so the credential reference stops working at once.
func (p *Provisioner) Destroy(ctx context.Context, requestID string) error {
	n, err := namesFor(requestID)
	if err != nil {
		return err
	}
	log := p.log.With(zap.String("request_id", requestID), zap.String("cluster", n.cluster))
	var errs []error
	cluster, err := p.describeCluster(ctx, n.cluster)
	switch {
	case errors.Is(err, ErrNotFound):
		log.Info("cluster already gone")
	case err != nil:
		errs = append(errs, err)
	default:
		// step 1: the cluster's instances.
		for _, m := range cluster.DBClusterMembers {
			if err := p.deleteInstance(ctx, sdkaws.ToString(m.DBInstanceIdentifier)); err != nil {
				errs = append(errs, err)
			}
		}
		// step 2: the cluster.
		if len(errs) == 0 {
			if err := p.deleteCluster(ctx, n, cluster); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// step 3: the secret.
	_, err = p.secrets.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:                   sdkaws.String(n.secret),
		ForceDeleteWithoutRecovery: sdkaws.Bool(true),
	})
	if err != nil && !isSecretNotFound(err) {
		errs = append(errs, fmt.Errorf("delete secret %s: %w", n.secret, err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy %s: %w", requestID, err)
	}
	log.Info("destroyed")
	return nil
}

// deleteInstance deletes the instance id. An instance still being created cannot be
// deleted yet: it is waited for, then deleted.
func (p *Provisioner) deleteInstance(ctx context.Context, id string) error {
	del := func() error {
		_, err := p.rds.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{
			DBInstanceIdentifier:   sdkaws.String(id),
			SkipFinalSnapshot:      sdkaws.Bool(true),
			DeleteAutomatedBackups: sdkaws.Bool(true),
		})
		return err
	}
	err := del()
	var state *rdstypes.InvalidDBInstanceStateFault
	if errors.As(err, &state) {
		inst, derr := p.describeInstance(ctx, id)
		if derr == nil && sdkaws.ToString(inst.DBInstanceStatus) == "deleting" {
			return nil
		}
		if err = p.waitInstance(ctx, id); err == nil {
			err = del()
		}
	}
	var nf *rdstypes.DBInstanceNotFoundFault
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete instance %s: %w", id, err)
	}
	return nil
}

// deleteCluster deletes the request's cluster. A cluster still being created or modified
// cannot be deleted yet: it is waited for, then deleted.
func (p *Provisioner) deleteCluster(ctx context.Context, n names, c rdstypes.DBCluster) error {
	if sdkaws.ToString(c.Status) == "deleting" {
		return nil
	}
	// Automated backups would outlive the clone (an AWS Backup plan may retain them): a
	// clone's data must not. A final snapshot, when asked for, is swept after its retention.
	in := &rds.DeleteDBClusterInput{
		DBClusterIdentifier:    sdkaws.String(n.cluster),
		SkipFinalSnapshot:      sdkaws.Bool(!p.cfg.FinalSnapshot),
		DeleteAutomatedBackups: sdkaws.Bool(true),
	}
	if p.cfg.FinalSnapshot {
		in.FinalDBSnapshotIdentifier = sdkaws.String(n.finalSnapshot)
	}
	_, err := p.rds.DeleteDBCluster(ctx, in)
	var state *rdstypes.InvalidDBClusterStateFault
	if errors.As(err, &state) {
		if _, err = p.waitCluster(ctx, n.cluster); err == nil {
			_, err = p.rds.DeleteDBCluster(ctx, in)
		}
	}
	var nf *rdstypes.DBClusterNotFoundFault
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete cluster %s: %w", n.cluster, err)
	}
	return nil
}

// Extend rewrites the delete-after tags of the request's cluster, instance and secret. It
// returns ErrNotFound when none of them exists.
func (p *Provisioner) Extend(ctx context.Context, requestID string, expiresAt time.Time) error {
	n, err := namesFor(requestID)
	if err != nil {
		return err
	}
	tag := tagSet{{TagDeleteAfter, formatDeleteAfter(expiresAt)}}
	found := 0
	var arns []string
	cluster, err := p.describeCluster(ctx, n.cluster)
	switch {
	case err == nil:
		arns = append(arns, sdkaws.ToString(cluster.DBClusterArn))
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("extend %s: %w", requestID, err)
	}
	instance, err := p.describeInstance(ctx, n.instance)
	switch {
	case err == nil:
		arns = append(arns, sdkaws.ToString(instance.DBInstanceArn))
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("extend %s: %w", requestID, err)
	}
	for _, arn := range arns {
		if _, err := p.rds.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: sdkaws.String(arn), Tags: tag.rds()}); err != nil {
			return fmt.Errorf("extend %s: tag %s: %w", requestID, arn, err)
		}
		found++
	}
	_, err = p.secrets.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: sdkaws.String(n.secret), Tags: tag.secrets()})
	switch {
	case err == nil:
		found++
	case !isSecretNotFound(err):
		return fmt.Errorf("extend %s: tag secret %s: %w", requestID, n.secret, err)
	}
	if found == 0 {
		return fmt.Errorf("extend %s: %w", requestID, ErrNotFound)
	}
	p.log.Info("extended", zap.String("request_id", requestID), zap.Time("delete_after", expiresAt))
	return nil
}

// Sweep is the orphan reaper: it destroys every clone whose clonebot-tagged cluster or
// secret has a delete-after in the past (by p.Now) or belongs to a request known does not
// know, and returns the request ids it destroyed, sorted. Resources already being deleted
// are left alone. It also deletes the final snapshots whose clone is gone and that are
// older than the final snapshot retention. It goes on after a failed step and returns the
// joined errors.
func (p *Provisioner) Sweep(ctx context.Context, known func(requestID string) bool) ([]string, error) {
	now := p.Now()
	doomed := map[string]string{} // request id → why
	consider := func(resource string, tags map[string]string) {
		if tags[TagManagedBy] != ManagedBy {
			return
		}
		id := tags[TagRequestID]
		if id == "" {
			p.log.Warn("sweep: clonebot resource without a request id left alone", zap.String("resource", resource))
			return
		}
		if !known(id) {
			doomed[id] = "unknown request"
			return
		}
		at, err := time.Parse(time.RFC3339, tags[TagDeleteAfter])
		switch {
		case err != nil:
			p.log.Warn("sweep: unreadable delete-after on a known request's resource left alone",
				zap.String("resource", resource), zap.String("request_id", id))
		case !at.After(now):
			doomed[id] = "delete-after passed"
		}
	}

	// step 1: clusters.
	clusterExists := map[string]bool{}
	clusters := rds.NewDescribeDBClustersPaginator(p.rds, &rds.DescribeDBClustersInput{})
	for clusters.HasMorePages() {
		page, err := clusters.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("sweep: list clusters: %w", err)
		}
		for _, c := range page.DBClusters {
			clusterExists[sdkaws.ToString(c.DBClusterIdentifier)] = true
			if sdkaws.ToString(c.Status) != "deleting" {
				consider(sdkaws.ToString(c.DBClusterIdentifier), rdsTagMap(c.TagList))
			}
		}
	}

	// step 2: secrets (those scheduled for deletion are not listed).
	secrets := secretsmanager.NewListSecretsPaginator(p.secrets, &secretsmanager.ListSecretsInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{TagManagedBy}}},
	})
	for secrets.HasMorePages() {
		page, err := secrets.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("sweep: list secrets: %w", err)
		}
		for _, s := range page.SecretList {
			consider(sdkaws.ToString(s.Name), secretTagMap(s.Tags))
		}
	}

	// step 3: destroy.
	var destroyed []string
	var errs []error
	for _, id := range sortedKeys(doomed) {
		if err := p.Destroy(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		p.log.Info("sweep destroyed", zap.String("request_id", id), zap.String("reason", doomed[id]))
		destroyed = append(destroyed, id)
	}

	// step 4: final snapshots of clones that are gone, once their retention has passed.
	if err := p.sweepFinalSnapshots(ctx, clusterExists, now); err != nil {
		errs = append(errs, err)
	}
	return destroyed, errors.Join(errs...)
}

// sweepFinalSnapshots deletes every available clonebot final snapshot (named
// clonebot-<id>-final and tagged managed-by=clonebot) whose cluster is not in clusterExists
// and that was taken at least the retention before now.
func (p *Provisioner) sweepFinalSnapshots(ctx context.Context, clusterExists map[string]bool, now time.Time) error {
	var errs []error
	pages := rds.NewDescribeDBClusterSnapshotsPaginator(p.rds, &rds.DescribeDBClusterSnapshotsInput{SnapshotType: sdkaws.String("manual")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("sweep: list final snapshots: %w", err)
		}
		for _, s := range page.DBClusterSnapshots {
			id := sdkaws.ToString(s.DBClusterSnapshotIdentifier)
			cluster, ok := strings.CutSuffix(id, "-final")
			if !ok || !strings.HasPrefix(cluster, "clonebot-") || rdsTagMap(s.TagList)[TagManagedBy] != ManagedBy ||
				clusterExists[cluster] || sdkaws.ToString(s.Status) != "available" ||
				now.Sub(sdkaws.ToTime(s.SnapshotCreateTime)) < p.cfg.FinalSnapshotRetention {
				continue
			}
			_, err := p.rds.DeleteDBClusterSnapshot(ctx, &rds.DeleteDBClusterSnapshotInput{DBClusterSnapshotIdentifier: sdkaws.String(id)})
			var nf *rdstypes.DBClusterSnapshotNotFoundFault
			if err != nil && !errors.As(err, &nf) {
				errs = append(errs, fmt.Errorf("sweep: delete final snapshot %s: %w", id, err))
				continue
			}
			p.log.Info("sweep deleted a final snapshot", zap.String("snapshot", id),
				zap.String("request_id", rdsTagMap(s.TagList)[TagRequestID]))
		}
	}
	return errors.Join(errs...)
}
