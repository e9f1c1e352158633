# Shared by the Python status subscribers: the file_completed events they received against the
# files on disk. Only the standard library, so it never depends on how pushcap is built.
import os


def check_files(out_dirs, completed, problems):
    """Returns {path: size} of the files in out_dirs; appends to problems every event whose file is
    missing, has another size or implausible packet counts/times. completed: {path: FileCompleted}."""
    files = {}
    for d in out_dirs:
        for name in os.listdir(d):
            files[os.path.join(d, name)] = os.path.getsize(os.path.join(d, name))
    for path, fc in completed.items():
        if path not in files:
            problems.append("event names %s, which is not on disk" % path)
        elif files[path] != fc.bytes:
            problems.append("%s: event says %d bytes, disk has %d" % (path, fc.bytes, files[path]))
        if fc.packets == 0 or fc.first_packet_unix_ns > fc.last_packet_unix_ns:
            problems.append("%s: implausible packets/times in event" % path)
    return files
