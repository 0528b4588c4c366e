//go:build tools

// The program this module builds (see scripts/build_components.py); the import keeps it in go.sum.
package tools

import _ "go.etcd.io/etcd/server/v3"
