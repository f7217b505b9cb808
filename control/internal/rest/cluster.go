package rest

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/weirflow/weir/internal/leader"
)

// ErrNotLeader is returned by Cluster.Resign on a JobManager that does not
// lead; the API answers 503 (the client asks again, or asks the leader).
var ErrNotLeader = errors.New("rest: this JobManager does not lead")

// Cluster is the JobManager's place in the HA election.
type Cluster interface {
	// ID is this JobManager's id, ClusterID the cluster's.
	ID() string
	ClusterID() string
	// Election reads the election: leader and standbys.
	Election(ctx context.Context) (leader.View, error)
	// History reads the cluster's leaderships, newest first.
	History(ctx context.Context) ([]leader.Term, error)
	// Resign hands the leadership over (planned); ErrNotLeader if this
	// JobManager does not lead.
	Resign(ctx context.Context) (epoch int64, err error)
}

// member is a JobManager in GET /cluster/leader.
type member struct {
	ID    string `json:"id"`
	REST  string `json:"restAddress"`
	RPC   string `json:"rpcAddress"`
	Epoch int64  `json:"epoch"`
	Since int64  `json:"since,omitempty"` // ms since the epoch, leader only
}

// term is a leadership in GET /cluster/leader's history.
type term struct {
	member
	Until int64 `json:"until,omitempty"` // ms since the epoch; absent for the newest
}

func toMember(m leader.Member, scheme string) member {
	out := member{ID: m.ID, REST: scheme + "://" + m.RESTAddress, RPC: m.RPCAddress, Epoch: m.Epoch}
	if !m.Since.IsZero() {
		out.Since = m.Since.UnixMilli()
	}
	return out
}

// clusterLeader answers on every JobManager, leader or standby.
func (s *Server) clusterLeader(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	v, err := s.cluster.Election(ctx)
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	// "self" is the JobManager the client talks to: the standby that
	// passed the request on (a dashboard's live stream), else this one.
	self := s.cluster.ID()
	if by := c.Request().Header.Get(ForwardedHeader); by != "" {
		self = by
	}
	body := map[string]any{"cluster": s.cluster.ClusterID(), "self": self, "leader": nil}
	if v.Leader != nil {
		body["leader"] = toMember(*v.Leader, s.scheme)
	}
	standbys := make([]member, 0, len(v.Standbys))
	for _, m := range v.Standbys {
		standbys = append(standbys, toMember(m, s.scheme))
	}
	body["standbys"] = standbys
	terms, err := s.cluster.History(ctx)
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	history := make([]term, 0, len(terms))
	for _, t := range terms {
		h := term{member: toMember(leader.Member{Info: t.Info, Epoch: t.Epoch}, s.scheme)}
		if !t.Until.IsZero() {
			h.Until = t.Until.UnixMilli()
		}
		history = append(history, h)
	}
	body["history"] = history
	return c.JSON(http.StatusOK, body)
}

// resign hands the leadership over; a standby forwards it to the leader.
func (s *Server) resign(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
	defer cancel()
	epoch, err := s.cluster.Resign(ctx)
	if errors.Is(err, ErrNotLeader) {
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"resigned": s.cluster.ID(), "epoch": epoch})
}
