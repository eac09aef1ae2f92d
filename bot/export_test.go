package bot

import (
	"context"

	"github.com/clonebot/clonebot/handlers"
)

// SetHome lets tests of package bot_test give a Notifier its App Home without a whole Bot.
func (n *Notifier) SetHome(f func(ctx context.Context, user string) (handlers.Home, error)) {
	n.setHome(f)
}
