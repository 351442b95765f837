#!/usr/bin/python3
"""A FUSE filesystem that forgets what was not fsynced when the "power" is cut.

Usage: /usr/bin/python3 lazyfs.py BACKING_DIR MOUNT_DIR [--ignore-fsync]

Every operation passes through to BACKING_DIR at once (reads see the latest data), but the filesystem remembers
how to undo everything that is not yet durable. On the command `cut` (one line on stdin) it rolls the backing
directory back to its durable state and refuses any later write; the caller then unmounts (fusermount -u) and
mounts again, which also drops the kernel's page cache of the mount. Then BACKING_DIR holds exactly what a
machine would find after a power loss under the model below.

Durability model (what survives a power cut):
  * File data: the bytes and size a file had at its last fsync/fdatasync (or at mount time, or at creation: empty)
    survive; every later write, truncate or extension is undone (overwritten bytes are restored from an undo log,
    the size is cut back). An fsync of one file makes only that file's data durable.
  * New files: a file created since mount exists after the cut only if it, or its parent directory, was fsynced
    after the creation (like ext4, where fsync of a new file commits its directory entry); otherwise it is removed.
  * Renames, hard links, unlinks, mkdir/rmdir and attribute changes are durable when they return (a journaling
    filesystem that commits metadata in order). This is weaker than POSIX: a strict model would also lose renames
    whose directory was not fsynced. The store's engine (LevelDB) fsyncs a file before renaming it into place.
With --ignore-fsync, fsync/fdatasync/fsyncdir return success but make nothing durable: a store on this filesystem
loses acknowledged writes at the cut, which shows that the power-loss test can fail.

Control protocol (stdin → stdout, one line each):
  `mounted` is printed once the mount is live;
  `stats`  → `stats files=N undo_bytes=B`: files with non-durable state;
  `cut`    → `cut files=N restored_bytes=B removed=R`: rolled back; writes fail with EIO from now on.
"""
import errno
import os
import sys
import threading
import time

try:
    from fusepy import FUSE, FuseOSError, Operations  # Debian's python3-fusepy
except ImportError:  # pip's fusepy
    from fuse import FUSE, FuseOSError, Operations

MAX_UNDO_BYTES = 512 * 1024 * 1024  # refuse writes beyond this much remembered old data (explicit limit)


class Pending:
    """The non-durable state of one inode: how to return it to its last durable contents."""

    def __init__(self, synced_size, created, paths):
        self.synced_size = synced_size
        self.created = created
        self.paths = set(paths)
        self.undo = []  # (offset, old bytes), applied in reverse at the cut


class LazyFS(Operations):
    use_ns = True

    def __init__(self, root, ignore_fsync):
        self.root = os.path.realpath(root)
        self.ignore_fsync = ignore_fsync
        self.mu = threading.Lock()
        self.pending = {}  # inode number -> Pending
        self.undo_bytes = 0
        self.dead = False

    def _full(self, path):
        return os.path.join(self.root, path.lstrip('/'))

    def _alive(self):
        if self.dead:
            raise FuseOSError(errno.EIO)

    def _state(self, ino, size, path):
        p = self.pending.get(ino)
        if p is None:
            p = Pending(size, False, [path])
            self.pending[ino] = p
        else:
            p.paths.add(path)
        return p

    def _remember(self, p, path, offset, length):
        """Saves the durable bytes in [offset, offset+length) before they are overwritten or cut off."""
        end = min(offset + length, p.synced_size)
        if offset >= end:
            return
        fd = os.open(self._full(path), os.O_RDONLY)
        try:
            old = os.pread(fd, end - offset, offset)
        finally:
            os.close(fd)
        if self.undo_bytes + len(old) > MAX_UNDO_BYTES:
            raise FuseOSError(errno.ENOSPC)
        self.undo_bytes += len(old)
        p.undo.append((offset, old))

    # ---- metadata --------------------------------------------------------------------------------------------
    def access(self, path, mode):
        if not os.access(self._full(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = os.lstat(self._full(path))
        return {k: getattr(st, k) for k in ('st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime', 'st_nlink',
                                            'st_size', 'st_uid', 'st_ino', 'st_atime_ns', 'st_mtime_ns',
                                            'st_ctime_ns')}

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._full(path))

    def readlink(self, path):
        return os.readlink(self._full(path))

    def statfs(self, path):
        st = os.statvfs(self._full(path))
        return {k: getattr(st, k) for k in ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree',
                                            'f_files', 'f_flag', 'f_frsize', 'f_namemax')}

    def chmod(self, path, mode):
        os.chmod(self._full(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._full(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._full(path), ns=times)

    def mkdir(self, path, mode):
        self._alive()
        os.mkdir(self._full(path), mode)

    def rmdir(self, path):
        self._alive()
        os.rmdir(self._full(path))

    def symlink(self, target, source):
        self._alive()
        os.symlink(source, self._full(target))

    def link(self, target, source):
        self._alive()
        with self.mu:
            os.link(self._full(source), self._full(target))
            p = self.pending.get(os.lstat(self._full(target)).st_ino)
            if p is not None:
                p.paths.add(target)

    def unlink(self, path):
        self._alive()
        with self.mu:
            full = self._full(path)
            ino = os.lstat(full).st_ino
            os.unlink(full)
            p = self.pending.get(ino)
            if p is not None:
                p.paths.discard(path)
                if not p.paths:
                    self._forget(ino)

    def rename(self, old, new):
        self._alive()
        with self.mu:
            try:
                replaced = os.lstat(self._full(new)).st_ino
            except FileNotFoundError:
                replaced = None
            os.rename(self._full(old), self._full(new))
            for ino, p in list(self.pending.items()):
                if ino == replaced:
                    p.paths.discard(new)
                    if not p.paths:
                        self._forget(ino)
                        continue
                moved = set()
                for q in p.paths:
                    if q == old:
                        moved.add(new)
                    elif q.startswith(old.rstrip('/') + '/'):
                        moved.add(new.rstrip('/') + q[len(old.rstrip('/')):])
                    else:
                        moved.add(q)
                p.paths = moved

    def _forget(self, ino):
        p = self.pending.pop(ino)
        self.undo_bytes -= sum(len(b) for _, b in p.undo)

    # ---- file data -------------------------------------------------------------------------------------------
    def create(self, path, mode, fi=None):
        self._alive()
        with self.mu:
            fd = os.open(self._full(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            ino = os.fstat(fd).st_ino
            if ino in self.pending:
                self._forget(ino)
            self.pending[ino] = Pending(0, True, [path])
            return fd

    def open(self, path, flags):
        if flags & os.O_TRUNC:
            self._alive()
            with self.mu:
                st = os.lstat(self._full(path))
                p = self._state(st.st_ino, st.st_size, path)
                self._remember(p, path, 0, st.st_size)
                return os.open(self._full(path), flags)
        return os.open(self._full(path), flags)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._alive()
        with self.mu:
            st = os.fstat(fh)
            p = self._state(st.st_ino, st.st_size, path)
            self._remember(p, path, offset, len(data))
            return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        self._alive()
        with self.mu:
            st = os.fstat(fh) if fh is not None else os.lstat(self._full(path))
            p = self._state(st.st_ino, st.st_size, path)
            if length < st.st_size:
                self._remember(p, path, length, st.st_size - length)
            if fh is not None:
                os.ftruncate(fh, length)
            else:
                os.truncate(self._full(path), length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0

    def fsync(self, path, datasync, fh):
        self._alive()
        if self.ignore_fsync:
            return 0
        with self.mu:
            ino = os.fstat(fh).st_ino
            if ino in self.pending:
                self._forget(ino)  # durable now: its current contents and its name
        return 0

    def fsyncdir(self, path, datasync, fh):
        self._alive()
        if self.ignore_fsync:
            return 0
        with self.mu:
            d = path.rstrip('/')
            for p in self.pending.values():
                if p.created and any(os.path.dirname(q) == (d or '/') for q in p.paths):
                    p.created = False  # the name is durable; the data still needs the file's own fsync
        return 0

    # ---- power cut -------------------------------------------------------------------------------------------
    def cut(self):
        with self.mu:
            self.dead = True
            restored = 0
            removed = 0
            files = len(self.pending)
            for p in self.pending.values():
                paths = [q for q in p.paths if os.path.lexists(self._full(q))]
                if not paths:
                    continue
                if p.created:
                    for q in paths:
                        os.unlink(self._full(q))
                    removed += 1
                    continue
                fd = os.open(self._full(paths[0]), os.O_WRONLY)
                try:
                    for offset, old in reversed(p.undo):
                        os.pwrite(fd, old, offset)
                        restored += len(old)
                    os.ftruncate(fd, p.synced_size)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self.pending.clear()
            self.undo_bytes = 0
            return 'cut files=%d restored_bytes=%d removed=%d' % (files, restored, removed)

    def stats(self):
        with self.mu:
            return 'stats files=%d undo_bytes=%d' % (len(self.pending), self.undo_bytes)


def control(fs, mountpoint):
    deadline = time.monotonic() + 20
    while not os.path.ismount(mountpoint):
        if time.monotonic() > deadline:
            print('error mount did not appear', flush=True)
            os._exit(1)
        time.sleep(0.01)
    print('mounted', flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == 'cut':
            print(fs.cut(), flush=True)
        elif cmd == 'stats':
            print(fs.stats(), flush=True)
        elif cmd:
            print('error unknown command %s' % cmd, flush=True)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    fs = LazyFS(args[0], '--ignore-fsync' in sys.argv)
    threading.Thread(target=control, args=(fs, os.path.realpath(args[1])), daemon=True).start()
    FUSE(fs, args[1], foreground=True, nothreads=False, fsname='lazyfs')


if __name__ == '__main__':
    main()
