package agent

import (
	"context"
	"sync"
)

// group runs goroutines, cancels their context on the first error and returns that error.
type group struct {
	wg     sync.WaitGroup
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &group{cancel: cancel}, ctx
}

func (g *group) Go(f func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err; g.cancel() })
		}
	}()
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

// parallel runs do for every item over n goroutines, in order of items, stopping at the first
// error.
func parallel[T any](ctx context.Context, n int, items []T, do func(context.Context, T) error) error {
	g, gctx := newGroup(ctx)
	work := make(chan T)
	for range min(n, max(len(items), 1)) {
		g.Go(func() error {
			for it := range work {
				if err := do(gctx, it); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(work)
		for _, it := range items {
			select {
			case work <- it:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	return g.Wait()
}
