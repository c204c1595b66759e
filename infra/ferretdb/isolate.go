package main

// FerretDB 1.x applies an update by reading the matching documents, computing the new ones in Go and writing each
// back whole (backends/sqlite UpdateAll): two updates of one document at once can both read the old one, and the
// second write then drops the first's change. MongoDB, which production runs and docs/operations.md requires, applies
// each single-document update atomically; zoomsymbl's services rely on that (two parts' workers writing their own
// progress entry of one meeting, a stage move beside a job mark). The tests' server must keep the same promise, or a
// test fails only on the test server. So the wrapper listens itself and hands each message to FerretDB over a private
// Unix socket, holding a lock per collection from a write command's request until its reply: writes of one
// collection run one at a time, reads never wait.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

const (
	opMsg        = 2013
	maxMessage   = 64 << 20 // above MongoDB's 48 MB maxMessageSizeBytes
	moreToCome   = 1 << 1
	headerLength = 16
)

// writeCommands are the commands whose request and reply run under their collection's lock (lower-cased names).
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findandmodify": true,
	"create": true, "drop": true, "createindexes": true, "dropindexes": true, "dropdatabase": true,
	"renamecollection": true, "collmod": true,
}

// keyedLocks holds one mutex per collection ("db.collection"), created on first use.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*sync.Mutex{}
	}
	l, ok := k.locks[key]
	if !ok {
		l = &sync.Mutex{}
		k.locks[key] = l
	}
	k.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// proxy accepts on ln and relays each connection to FerretDB's socket at backend until ln is closed.
func proxy(ln net.Listener, backend string, logger *slog.Logger) error {
	locks := &keyedLocks{}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go relayConn(conn, backend, locks, logger)
	}
}

func relayConn(client net.Conn, backend string, locks *keyedLocks, logger *slog.Logger) {
	defer client.Close()
	server, err := net.DialTimeout("unix", backend, 5*time.Second)
	if err != nil {
		logger.Error("cannot reach ferretdb", "error", err)
		return
	}
	defer server.Close()
	fromClient, fromServer := bufio.NewReader(client), bufio.NewReader(server)
	for {
		request, err := readMessage(fromClient)
		if err != nil {
			return // the client hung up (or sent no message): nothing to relay
		}
		unlock := func() {}
		if key, write := writeTarget(request); write {
			unlock = locks.lock(key)
		}
		err = exchange(request, server, fromServer, client)
		unlock()
		if err != nil {
			return
		}
	}
}

// exchange sends one request and relays its replies: none when the request says more is to come, else every reply
// up to the first that does not.
func exchange(request []byte, server io.Writer, fromServer *bufio.Reader, client io.Writer) error {
	if _, err := server.Write(request); err != nil {
		return err
	}
	if msgFlags(request)&moreToCome != 0 {
		return nil
	}
	for {
		reply, err := readMessage(fromServer)
		if err != nil {
			return err
		}
		if _, err := client.Write(reply); err != nil {
			return err
		}
		if msgFlags(reply)&moreToCome == 0 {
			return nil
		}
	}
}

// readMessage reads one whole wire-protocol message (header included).
func readMessage(r *bufio.Reader) ([]byte, error) {
	var header [headerLength]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	size := int64(binary.LittleEndian.Uint32(header[:4]))
	if size < headerLength || size > maxMessage {
		return nil, fmt.Errorf("message of %d bytes", size)
	}
	msg := make([]byte, size)
	copy(msg, header[:])
	if _, err := io.ReadFull(r, msg[headerLength:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// msgFlags is an OP_MSG's flag bits; 0 for any other message.
func msgFlags(msg []byte) uint32 {
	if len(msg) < headerLength+4 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return 0
	}
	return binary.LittleEndian.Uint32(msg[16:20])
}

// writeTarget says whether msg is a write command and names the collection it writes ("db.collection"); a write
// whose body cannot be read is locked under "" (with every other such write).
func writeTarget(msg []byte) (string, bool) {
	body := msgBody(msg)
	if body == nil {
		return "", false
	}
	command, target, db, ok := commandOf(body)
	if !writeCommands[strings.ToLower(command)] {
		return "", false
	}
	if !ok {
		return "", true
	}
	return db + "." + target, true
}

// msgBody is the BSON body (the kind-0 section) of an OP_MSG; nil for any other message or a malformed one.
func msgBody(msg []byte) []byte {
	if len(msg) < headerLength+5 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return nil
	}
	end := len(msg)
	if msgFlags(msg)&1 != 0 { // checksumPresent: the last four bytes are the CRC
		end -= 4
	}
	for at := headerLength + 4; at < end; {
		kind := msg[at]
		at++
		if at+4 > end {
			return nil
		}
		size := int(binary.LittleEndian.Uint32(msg[at : at+4]))
		if size < 5 || at+size > end {
			return nil
		}
		if kind == 0 {
			return msg[at : at+size]
		}
		at += size // a document sequence: its size counts itself and what follows
	}
	return nil
}

// commandOf reads a command document: its first key (the command), that key's value when a string (the
// collection) and $db. ok is false when the document does not read to its end.
func commandOf(doc []byte) (command, target, db string, ok bool) {
	at, end := 4, len(doc)-1
	first := true
	for at < end {
		kind := doc[at]
		name, next, good := cstring(doc, at+1)
		if !good {
			return command, target, db, false
		}
		size, good := valueSize(doc, kind, next)
		if !good || next+size > end {
			return command, target, db, false
		}
		if first {
			command, first = name, false
			if kind == 0x02 {
				target, _ = bsonString(doc, next)
			}
		} else if name == "$db" && kind == 0x02 {
			db, _ = bsonString(doc, next)
		}
		at = next + size
	}
	return command, target, db, at == end && command != ""
}

func cstring(doc []byte, at int) (string, int, bool) {
	for i := at; i < len(doc); i++ {
		if doc[i] == 0 {
			return string(doc[at:i]), i + 1, true
		}
	}
	return "", 0, false
}

func bsonString(doc []byte, at int) (string, bool) {
	n := int(binary.LittleEndian.Uint32(doc[at : at+4]))
	if n < 1 || at+4+n > len(doc) {
		return "", false
	}
	return string(doc[at+4 : at+4+n-1]), true
}

// valueSize is the size of the BSON value of type kind starting at at.
func valueSize(doc []byte, kind byte, at int) (int, bool) {
	int32At := func() (int, bool) {
		if at+4 > len(doc) {
			return 0, false
		}
		return int(int32(binary.LittleEndian.Uint32(doc[at : at+4]))), true
	}
	switch kind {
	case 0x06, 0x0A, 0x7F, 0xFF: // undefined, null, max key, min key
		return 0, true
	case 0x08: // bool
		return 1, true
	case 0x10: // int32
		return 4, true
	case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
		return 8, true
	case 0x07: // ObjectId
		return 12, true
	case 0x13: // decimal128
		return 16, true
	case 0x02, 0x0D, 0x0E: // string, JavaScript, symbol: length, bytes
		n, ok := int32At()
		return 4 + n, ok && n >= 1
	case 0x0C: // DBPointer: string, ObjectId
		n, ok := int32At()
		return 4 + n + 12, ok && n >= 1
	case 0x03, 0x04, 0x0F: // document, array, code with scope: their length counts themselves
		n, ok := int32At()
		return n, ok && n >= 5
	case 0x05: // binary: length, subtype, bytes
		n, ok := int32At()
		return 4 + 1 + n, ok && n >= 0
	case 0x0B: // regex: two cstrings
		_, next, ok := cstring(doc, at)
		if !ok {
			return 0, false
		}
		_, next, ok = cstring(doc, next)
		return next - at, ok
	}
	return 0, false
}
