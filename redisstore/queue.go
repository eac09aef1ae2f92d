package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/clonebot/clonebot/jobs"
)

// Queue is the restore job stream, its consumer group, the dead-letter stream and the events
// stream the agents publish progress and results on. All its keys share the {restore} hash tag
// (keys.go), so the Lua enqueue and the MULTI blocks work on Redis Cluster.
type Queue struct {
	rdb    redis.UniversalClient
	group  string
	jobs   string // stream of jobs
	events string // stream of progress events the bot reads
	dead   string // stream of jobs given up on
	marker string // prefix of the per-request enqueue markers
}

// DefaultGroup is the consumer group of the restore agents.
const DefaultGroup = "restore-agents"

// markerTTL is how long an enqueued request id is remembered, so a retried enqueue of the same
// request never makes a second job.
const markerTTL = 7 * 24 * time.Hour

// eventsMaxLen bounds the progress stream (approximately, MAXLEN ~).
const eventsMaxLen = 100_000

// NewQueue returns the queue under key prefix (e.g. "clonebot:") for consumer group group.
func NewQueue(rdb redis.UniversalClient, prefix, group string) *Queue {
	if group == "" {
		group = DefaultGroup
	}
	k := newKeys(prefix)
	return &Queue{rdb: rdb, group: group, jobs: k.jobs(), events: k.events(), dead: k.deadJobs(), marker: k.enqueued("")}
}

// JobsKey is the key of the job stream.
func (q *Queue) JobsKey() string { return q.jobs }

// Group is the agents' consumer group.
func (q *Queue) Group() string { return q.group }

// EventsKey is the key of the progress stream.
func (q *Queue) EventsKey() string { return q.events }

// DeadKey is the key of the dead-letter stream.
func (q *Queue) DeadKey() string { return q.dead }

// EnsureGroup creates the job stream and the consumer group if they do not exist.
func (q *Queue) EnsureGroup(ctx context.Context) error {
	return ensureGroup(ctx, q.rdb, q.jobs, q.group)
}

// enqueueScript adds the job only if no job was enqueued for this request id before.
var enqueueScript = redis.NewScript(`
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[2]) then
  return redis.call('XADD', KEYS[2], '*', 'job', ARGV[1])
end
return false`)

// Enqueue adds job to the stream. It is idempotent per request id: a second call for the same
// request adds nothing and returns added=false.
func (q *Queue) Enqueue(ctx context.Context, job jobs.Job) (added bool, err error) {
	if err := job.Validate(); err != nil {
		return false, err
	}
	body, err := encodeJob(job)
	if err != nil {
		return false, fmt.Errorf("encode job %s: %w", job.RequestID, err)
	}
	res, err := enqueueScript.Run(ctx, q.rdb, []string{q.marker + job.RequestID, q.jobs},
		body, markerTTL.Milliseconds()).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue job %s: %w", job.RequestID, err)
	}
	return res != nil, nil
}

// Next returns the next job for consumer: first one abandoned by another consumer for at least
// minIdle (XAUTOCLAIM), else a new one, waiting up to block. It returns nil, nil when there is
// none. Job.Attempt is the entry's delivery count. A group that Redis lost is created again.
func (q *Queue) Next(ctx context.Context, consumer string, minIdle, block time.Duration) (*jobs.Delivery, error) {
	var msgs []redis.XMessage
	err := withGroup(ctx, q.rdb, q.jobs, q.group, func() (err error) {
		msgs, _, err = q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: q.jobs, Group: q.group, Consumer: consumer, MinIdle: minIdle, Start: "0-0", Count: 1,
		}).Result()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reclaim jobs: %w", err)
	}
	if len(msgs) == 0 {
		var streams []redis.XStream
		err := withGroup(ctx, q.rdb, q.jobs, q.group, func() (err error) {
			streams, err = q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: q.group, Consumer: consumer, Streams: []string{q.jobs, ">"}, Count: 1, Block: block,
			}).Result()
			return err
		})
		if errors.Is(err, redis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read jobs: %w", err)
		}
		for _, s := range streams {
			msgs = append(msgs, s.Messages...)
		}
		if len(msgs) == 0 {
			return nil, nil
		}
	}
	m := msgs[0]
	d := &jobs.Delivery{ID: m.ID}
	body, _ := m.Values["job"].(string)
	if d.Job, d.Bad = decodeJob(body); d.Bad == nil {
		d.Bad = d.Job.Validate()
	}
	pend, err := q.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: q.jobs, Group: q.group, Start: m.ID, End: m.ID, Count: 1,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("delivery count of %s: %w", m.ID, err)
	}
	d.Job.Attempt = 1
	if len(pend) == 1 {
		d.Job.Attempt = int(pend[0].RetryCount)
	}
	return d, nil
}

// Heartbeat resets the idle time of a job consumer still owns, so no other agent reclaims it
// while it runs. It returns owned=false if the job was reclaimed by another consumer or is no
// longer pending, and when Redis lost the stream (its data was flushed): the job is gone.
func (q *Queue) Heartbeat(ctx context.Context, consumer string, d *jobs.Delivery) (owned bool, err error) {
	pend, err := q.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: q.jobs, Group: q.group, Start: d.ID, End: d.ID, Count: 1,
	}).Result()
	if noGroup(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("heartbeat %s: %w", d.ID, err)
	}
	if len(pend) != 1 || pend[0].Consumer != consumer {
		return false, nil
	}
	// JUSTID claims without incrementing the delivery count.
	err = q.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: q.jobs, Group: q.group, Consumer: consumer, MinIdle: 0, Messages: []string{d.ID},
	}).Err()
	if err != nil {
		return false, fmt.Errorf("heartbeat %s: %w", d.ID, err)
	}
	return true, nil
}

// Finish publishes the job's final event and acknowledges and removes the job, atomically.
func (q *Queue) Finish(ctx context.Context, d *jobs.Delivery, final jobs.Event) error {
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, q.eventArgs(final))
		p.XAck(ctx, q.jobs, q.group, d.ID)
		p.XDel(ctx, q.jobs, d.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish job %s: %w", d.ID, err)
	}
	return nil
}

// DeadLetter moves the job to the dead-letter stream with reason, publishes its failure and
// acknowledges it, atomically.
func (q *Queue) DeadLetter(ctx context.Context, d *jobs.Delivery, reason string, final jobs.Event) error {
	body, _ := encodeJob(d.Job)
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: q.dead, Values: map[string]any{
			"id": d.ID, "request_id": d.Job.RequestID, "job": body, "reason": reason,
			"attempts": strconv.Itoa(d.Job.Attempt),
		}})
		p.XAdd(ctx, q.eventArgs(final))
		p.XAck(ctx, q.jobs, q.group, d.ID)
		p.XDel(ctx, q.jobs, d.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter job %s: %w", d.ID, err)
	}
	return nil
}

// Publish appends a progress event.
func (q *Queue) Publish(ctx context.Context, e jobs.Event) error {
	if err := q.rdb.XAdd(ctx, q.eventArgs(e)).Err(); err != nil {
		return fmt.Errorf("publish progress of %s: %w", e.RequestID, err)
	}
	return nil
}

func (q *Queue) eventArgs(e jobs.Event) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: q.events, MaxLen: eventsMaxLen, Approx: true, Values: eventFields(e)}
}

func encodeJob(j jobs.Job) (string, error) {
	b, err := json.Marshal(j)
	return string(b), err
}

func decodeJob(s string) (jobs.Job, error) {
	var j jobs.Job
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return jobs.Job{}, fmt.Errorf("%w: %v", jobs.ErrInvalidJob, err)
	}
	return j, nil
}

// eventFields encodes e as the values of one events stream entry.
func eventFields(e jobs.Event) map[string]any {
	m := map[string]any{
		"request_id": e.RequestID, "state": string(e.State), "phase": string(e.Phase),
		"attempt": strconv.Itoa(e.Attempt), "at": e.At.UTC().Format(time.RFC3339Nano),
	}
	if e.MaxAttempts != 0 {
		m["max_attempts"] = strconv.Itoa(e.MaxAttempts)
	}
	if e.Table != "" {
		m["table"] = e.Table
	}
	if e.Bytes != 0 || e.Rows != 0 {
		m["bytes"] = strconv.FormatInt(e.Bytes, 10)
		m["rows"] = strconv.FormatInt(e.Rows, 10)
		m["rate"] = strconv.FormatFloat(e.Rate, 'f', 0, 64)
	}
	if e.Reason != "" {
		m["reason"] = e.Reason
	}
	return m
}

// ParseEvent decodes the values of one events stream entry (as go-redis returns them).
func ParseEvent(values map[string]any) (jobs.Event, error) {
	str := func(k string) string { s, _ := values[k].(string); return s }
	e := jobs.Event{
		RequestID: str("request_id"), State: jobs.State(str("state")), Phase: jobs.Phase(str("phase")),
		Table: str("table"), Reason: str("reason"),
	}
	if e.RequestID == "" || e.State == "" {
		return jobs.Event{}, fmt.Errorf("progress event without request_id or state: %v", values)
	}
	var err error
	num := func(k string) int64 {
		if s := str(k); s != "" && err == nil {
			var n int64
			n, err = strconv.ParseInt(s, 10, 64)
			return n
		}
		return 0
	}
	e.Bytes, e.Rows, e.Attempt, e.MaxAttempts = num("bytes"), num("rows"), int(num("attempt")), int(num("max_attempts"))
	if s := str("rate"); s != "" && err == nil {
		e.Rate, err = strconv.ParseFloat(s, 64)
	}
	if s := str("at"); s != "" && err == nil {
		e.At, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return jobs.Event{}, fmt.Errorf("progress event of %s: %w", e.RequestID, err)
	}
	return e, nil
}
