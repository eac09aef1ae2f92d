package keepalive

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestStopWaitsAndLostCancels(t *testing.T) {
	var renewals atomic.Int32
	lost := make(chan struct{})
	stop := Start(context.Background(), time.Millisecond, func(context.Context) bool {
		return renewals.Add(1) < 3 // held twice, then lost
	}, func() { close(lost) })
	<-lost // the loop reports the loss by itself
	stop()
	if n := renewals.Load(); n != 3 {
		t.Fatalf("%d renewals, want 3 (the loop must end at the loss)", n)
	}

	renewals.Store(0)
	stop = Start(context.Background(), time.Millisecond, func(context.Context) bool { renewals.Add(1); return true },
		func() { t.Error("lost called while held") })
	for renewals.Load() < 2 {
		time.Sleep(time.Millisecond) // waits for the loop to run; the assertions do not depend on timing
	}
	stop()
	after := renewals.Load()
	time.Sleep(5 * time.Millisecond)
	if renewals.Load() != after {
		t.Fatal("renew ran after stop returned")
	}
}
