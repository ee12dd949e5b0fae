// Package openflow talks OpenFlow 1.3 to one bridge: the wire form of the
// flow IR (package flows), the connection (a dialled management socket or
// a vetted listener), the session with its bundles, barriers, flow dumps,
// meters and select groups, and the Syncer that keeps the bridge's table
// equal to a desired flow set. wire.go says why flowgate encodes OpenFlow
// itself.
package openflow
