package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Sweep is the local backend's orphan reaper: it destroys every clone of this server and
// secrets folder whose request known says should not exist, and returns their request ids.
//
// A clone is found by what names its request: the comment of its role, written in the same
// transaction as the role (so no role of clonebot's lacks it, and it is also what proves a
// role is clonebot's before anything is dropped), and its credentials file. The names cannot
// be read back (an id that is not a plain identifier is hashed into it), and a table of clones
// could not be written in one transaction with a role, which belongs to the whole server. Only
// the roles granted to this admin role are considered, so two clonebots that share a server
// with admin roles of their own never reap each other's clones. A clone's database belongs to
// its role, so no database outlives it; a credentials file can (a destroy stopped after the
// role was dropped), and it is reaped too.
func (p *Provisioner) Sweep(ctx context.Context, known func(requestID string) bool) ([]string, error) {
	// step 1: the roles clonebot made for this admin role.
	ids, err := p.roleRequests(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	// step 2: the credentials files.
	files, err := p.secrets.requests()
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	for _, id := range files {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	// step 3: destroy what no live request owns.
	var destroyed []string
	var errs []error
	for _, id := range ids {
		if known(id) {
			continue
		}
		if err := p.Destroy(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
			continue
		}
		p.log.Info("sweep destroyed", zap.String("request_id", id))
		destroyed = append(destroyed, id)
	}
	return destroyed, errors.Join(errs...)
}

// roleRequests returns the request ids of the clone roles granted to the admin role, each
// named as cloneName says (a role whose name does not match its comment is left alone).
func (p *Provisioner) roleRequests(ctx context.Context) ([]string, error) {
	conn, err := p.connect(ctx, "")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT r.rolname, d.description FROM pg_roles r
		JOIN pg_shdescription d ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass
		WHERE starts_with(d.description, $1)
		  AND EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = r.oid AND m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user))
		ORDER BY r.rolname`, roleComment(""))
	if err != nil {
		return nil, fmt.Errorf("list clone roles: %w", err)
	}
	type role struct{ Name, Comment string }
	roles, err := pgx.CollectRows(rows, pgx.RowToStructByPos[role])
	if err != nil {
		return nil, fmt.Errorf("list clone roles: %w", err)
	}
	var ids []string
	for _, r := range roles {
		id := strings.TrimPrefix(r.Comment, roleComment(""))
		if cloneName(id) != r.Name {
			p.log.Warn("sweep: role whose comment names another request left alone", zap.String("role", r.Name))
			continue
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// requests returns the request ids of the credentials files in the store, each in the file its
// clone's name says (a file that is not clonebot's, or is misnamed, is left alone).
func (s *SecretStore) requests() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	var ids []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			continue
		}
		sec, err := s.read(name)
		if err != nil || cloneName(sec.RequestID) != name {
			continue
		}
		ids = append(ids, sec.RequestID)
	}
	return ids, nil
}
