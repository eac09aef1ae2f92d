package aws

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clonebot/clonebot/provisioner"
)

// Tag keys on every resource the backend makes.
const (
	TagManagedBy   = "managed-by"
	TagRequestID   = "request-id"
	TagRequester   = "requester"
	TagTier        = "tier"
	TagDeleteAfter = "delete-after" // RFC 3339
	// ManagedBy is the managed-by tag's value; the IAM policy is scoped by it.
	ManagedBy = "clonebot"
)

// ErrBadRequestID is returned for a request id that cannot name an AWS resource.
var ErrBadRequestID = errors.New("request id cannot name AWS resources")

// idPattern is what fits in an RDS identifier after "clonebot-" and before "-1": letters
// (lowercased), digits and single hyphens, starting and ending with a letter or digit.
var idPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// maxIDLength keeps "clonebot-<id>-1" within RDS's 63 characters.
const maxIDLength = 63 - len("clonebot-") - len("-1")

// names are the identifiers of everything made for one request.
type names struct {
	id            string // the request id as it appears in identifiers (lowercase)
	cluster       string
	instance      string
	secret        string
	finalSnapshot string
}

func namesFor(requestID string) (names, error) {
	id := strings.ToLower(requestID)
	if len(id) > maxIDLength || !idPattern.MatchString(id) {
		return names{}, fmt.Errorf("%w: %q (want letters, digits and single hyphens, at most %d characters)", ErrBadRequestID, requestID, maxIDLength)
	}
	return names{
		id:            id,
		cluster:       "clonebot-" + id,
		instance:      "clonebot-" + id + "-1",
		secret:        "clonebot/" + id,
		finalSnapshot: "clonebot-" + id + "-final",
	}, nil
}

// tagSet is the set of tags a clone's resources carry.
type tagSet [][2]string

func tagsFor(spec provisioner.Spec) tagSet {
	return tagSet{
		{TagManagedBy, ManagedBy},
		{TagRequestID, spec.RequestID},
		{TagRequester, spec.Requester},
		{TagTier, spec.Tier},
		{TagDeleteAfter, formatDeleteAfter(spec.ExpiresAt)},
	}
}

func formatDeleteAfter(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (ts tagSet) rds() []rdstypes.Tag {
	out := make([]rdstypes.Tag, 0, len(ts))
	for _, kv := range ts {
		out = append(out, rdstypes.Tag{Key: sdkaws.String(kv[0]), Value: sdkaws.String(kv[1])})
	}
	return out
}

func (ts tagSet) secrets() []smtypes.Tag {
	out := make([]smtypes.Tag, 0, len(ts))
	for _, kv := range ts {
		out = append(out, smtypes.Tag{Key: sdkaws.String(kv[0]), Value: sdkaws.String(kv[1])})
	}
	return out
}

func rdsTagMap(tags []rdstypes.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[sdkaws.ToString(t.Key)] = sdkaws.ToString(t.Value)
	}
	return m
}

func secretTagMap(tags []smtypes.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[sdkaws.ToString(t.Key)] = sdkaws.ToString(t.Value)
	}
	return m
}
