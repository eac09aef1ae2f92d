// Package keepalive renews a claim (a lease, a job's pending entry) in the background while
// work runs under it, and stops the work when the claim is lost: one loop for the lifecycle's
// request leases and the agents' job heartbeats.
package keepalive

import (
	"context"
	"time"
)

// Start calls renew every interval until ctx ends or renew reports the claim lost (held false),
// in which case it calls lost. The returned stop ends the loop and waits for it, so no renewal
// runs after stop returns.
func Start(ctx context.Context, every time.Duration, renew func(context.Context) (held bool), lost func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !renew(ctx) && ctx.Err() == nil {
					lost()
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
