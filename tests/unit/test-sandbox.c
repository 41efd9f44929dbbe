/* tests/unit/test-sandbox.c - sandbox/ as plain data: id maps, /etc/subuid
 * ranges, USER resolution, the privilege mode's log line.  (Namespaces and
 * mounts are exercised by tests/integration/t-sandbox-*.sh.) */
#include "lib/ib.h"
#include "sandbox/internal.h"
#include "tests/lib/ib-test.h"

static void test_idmap(void)
{
        struct ib_idmap m;
        struct ib_err *err = NULL;
        uint32_t out = 0;

        IB_OK(ib_idmap_parse("         0       1001          1\n         1     100000      65536\n", &m, &err) == 0,
              "parse a uid_map as the kernel prints it");
        IB_OK(m.n == 2 && m.r[1].inside == 1 && m.r[1].outside == 100000 && m.r[1].count == 65536, "two ranges");
        IB_OK(ib_idmap_to_host(&m, 0, &out) == 0 && out == 1001, "0 -> own uid");
        IB_OK(ib_idmap_to_host(&m, 1000, &out) == 0 && out == 100999, "1000 -> 100999");
        IB_OK(ib_idmap_to_host(&m, 65536, &out) == 0 && out == 165535, "last mapped id");
        IB_OK(ib_idmap_to_host(&m, 65537, &out) == -ERANGE, "first unmapped id is -ERANGE");
        IB_OK(!ib_idmap_has(&m, 100000) && ib_idmap_has(&m, 42), "has");
        IB_OK(ib_idmap_count(&m) == 65537, "count");
        IB_OK(ib_idmap_contiguous(&m) == 65537, "ids 0..65536 are all mappable");
        IB_OK(!ib_idmap_is_identity(&m), "not the identity");

        IB_OK(ib_idmap_parse("0 0 4294967295\n", &m, &err) == 0 && ib_idmap_is_identity(&m), "identity map");
        IB_OK(ib_idmap_to_host(&m, 4294967294u, &out) == 0 && out == 4294967294u, "no overflow near UINT32_MAX");
        IB_OK(ib_idmap_parse("5 100 10\n0 200 5\n", &m, &err) == 0 && ib_idmap_contiguous(&m) == 15,
              "contiguous block from ranges out of order");
        IB_OK(ib_idmap_parse("1 100 10\n", &m, &err) == 0 && ib_idmap_contiguous(&m) == 0, "0 unmapped: nothing contiguous");
        IB_OK(ib_idmap_parse("", &m, &err) == 0 && m.n == 0, "empty map");
        IB_OK(ib_idmap_parse("0 1 x\n", &m, &err) == -EINVAL && err && strstr(err->msg, "line 1"),
              "malformed line is refused, naming the line");
        ib_err_free(&err);
        IB_OK(ib_idmap_parse("0 1 2 3\n", &m, &err) == -EINVAL, "trailing field is refused");
        ib_err_free(&err);
        IB_OK(ib_idmap_parse("0 1 99999999999\n", &m, &err) < 0, "a count beyond 32 bits is refused");
        ib_err_free(&err);
}

static void test_subid(void)
{
        const char *text = "# comment\n"
                           "alice:100000:65536\n"
                           "bob:165536:65536\n"
                           "1001:300000:1000\n"
                           "alice:500000:10\n"
                           "alice:bad:10\n"
                           "alice:600000:0\n"
                           "alice\n";
        struct ib_idmap m;

        IB_OK(ib_subid_ranges(text, "alice", 1001, &m) == 3, "alice by name and by uid: 3 ranges");
        IB_OK(m.r[0].inside == 1 && m.r[0].outside == 100000 && m.r[0].count == 65536, "first range from inside 1");
        IB_OK(m.r[1].inside == 65537 && m.r[1].outside == 300000 && m.r[1].count == 1000, "uid entry follows");
        IB_OK(m.r[2].inside == 66537 && m.r[2].outside == 500000 && m.r[2].count == 10, "file order kept");
        IB_OK(ib_subid_ranges(text, "carol", 1003, &m) == 0 && m.n == 0, "no entry: no ranges");
        IB_OK(ib_subid_ranges(text, NULL, 1001, &m) == 1 && m.r[0].outside == 300000, "by uid only");
        IB_OK(ib_subid_ranges(text, "bo", 7, &m) == 0, "a prefix of a name does not match");
}

static void test_user(void)
{
        const char *passwd = "root:x:0:0:root:/root:/bin/sh\n"
                             "user:x:1000:1000:user:/home/user:/bin/sh\n"
                             "imguser:x:4242:4343:img:/home/img:/bin/sh\n"
                             "broken:x:abc:1::/:/bin/sh\n"
                             "nohome:x:5000:5000::\n";
        const char *group = "root:x:0:\n"
                            "wheel:x:10:root,user\n"
                            "imggroup:x:4343:\n"
                            "extra:x:5555:imguser,user\n"
                            "dup:x:5555:imguser\n";
        struct ib_run_user u;
        struct ib_err *err = NULL;

        IB_OK(ib_user_resolve(NULL, passwd, group, &u, &err) == 0 && u.uid == 0 && u.gid == 0, "no USER is root");
        IB_OK(u.n_groups == 2 && u.groups[0] == 0 && u.groups[1] == 10, "root: primary group + wheel");
        IB_STREQ(u.home, "/root", "root's home");
        IB_OK(ib_user_resolve("imguser", passwd, group, &u, &err) == 0 && u.uid == 4242 && u.gid == 4343,
              "name: uid and gid from passwd");
        IB_OK(u.n_groups == 2 && u.groups[0] == 4343 && u.groups[1] == 5555, "name: groups listing it, no duplicates");
        IB_STREQ(u.home, "/home/img", "name: home");
        IB_OK(ib_user_resolve("1000", passwd, group, &u, &err) == 0 && u.uid == 1000 && u.gid == 1000 &&
              u.n_groups == 3, "uid in passwd: gid and groups of that entry");
        IB_OK(ib_user_resolve("7777", passwd, group, &u, &err) == 0 && u.uid == 7777 && u.gid == 0, "unknown uid: gid 0");
        IB_STREQ(u.home, "/", "unknown uid: home /");
        IB_OK(ib_user_resolve("imguser:extra", passwd, group, &u, &err) == 0 && u.gid == 5555 && u.n_groups == 0,
              "name:group sets the group, no supplementary groups");
        IB_OK(ib_user_resolve("1000:42", passwd, group, &u, &err) == 0 && u.uid == 1000 && u.gid == 42,
              "uid:gid (gid not in /etc/group)");
        IB_OK(ib_user_resolve("nohome", passwd, group, &u, &err) == 0 && strcmp(u.home, "/") == 0,
              "empty home field is /");
        IB_OK(ib_user_resolve("nosuch", passwd, group, &u, &err) == -ENOENT && strstr(err->msg, "/etc/passwd"),
              "unknown name is an error naming the image's passwd");
        ib_err_free(&err);
        IB_OK(ib_user_resolve("user:nogroup", passwd, group, &u, &err) == -ENOENT && strstr(err->msg, "/etc/group"),
              "unknown group name is an error");
        ib_err_free(&err);
        IB_OK(ib_user_resolve("broken", passwd, group, &u, &err) == -ENOENT, "malformed entries never match");
        ib_err_free(&err);
        IB_OK(ib_user_resolve("user:", passwd, group, &u, &err) == -EINVAL, "empty group is refused");
        ib_err_free(&err);
        IB_OK(ib_user_resolve("123", NULL, NULL, &u, &err) == 0 && u.uid == 123 && u.gid == 0,
              "numeric uid without any passwd file");
        IB_OK(ib_user_resolve("root", NULL, NULL, &u, &err) == -ENOENT, "a name without a passwd file is an error");
        ib_err_free(&err);
}

static void test_describe(void)
{
        struct ib_privmode m = { .kind = IB_PRIV_ROOTLESS, .host_uid = 1001, .host_gid = 1001 };
        struct ib_err *err = NULL;
        char *s;

        ib_idmap_parse("0 1001 1\n1 100000 65536\n", &m.uids, &err);
        ib_idmap_parse("0 1001 1\n1 100000 65536\n", &m.gids, &err);
        s = ib_privmode_describe(&m);
        IB_STREQ(s, "rootless (subordinate ids: 65536 via newuidmap)", "rootless log line");
        free(s);
        m.kind = IB_PRIV_SINGLE_ID;
        s = ib_privmode_describe(&m);
        IB_OK(strstr(s, "single id") && strstr(s, "/etc/subuid"), "single-id log line names the fix: %s", s);
        free(s);
        m.kind = IB_PRIV_ROOT;
        s = ib_privmode_describe(&m);
        IB_STREQ(s, "root (user namespace with the identity map of all ids)", "root log line");
        free(s);
        IB_STREQ(ib_privmode_name(IB_PRIV_USERNS), "userns", "mode names");
}

int main(void)
{
        test_idmap();
        test_subid();
        test_user();
        test_describe();
        return ib_t_done();
}
