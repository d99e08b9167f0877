// SPDX-License-Identifier: MIT
/*
 * Unit tests of user/attach/containers.c: cgroup path shapes, Engine API and
 * config.v2.json parsing (tests/fixtures/containers), HTTP answers from a
 * fake engine, and, when dockerd and the image are there, one real container
 * mapped pid -> id -> name -> cgroup id. Run from the repository root.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <json-c/json.h>

#include "attach/containers.h"

#define FIXDIR "tests/fixtures/containers"
#define ID1    "3f1c2a9d8e7b6a5f4e3d2c1b0a998877665544332211ffeeddccbbaa99887766"
#define ID2    "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233"
#define ID3    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
/* podman's, in tests/fixtures/containers/podman-root (the shape podman 4.3 writes) */
#define ID4 "4f8dbbf16be47f9e77c6f0cbc7706a75352cae1d884a4f1f2992e88553c6be5b"
#define ID5 "826be8d988323f25a99e8d74d4adaadce326cc368d9266e758f5a968c9bcab7d"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f) {
		print_error("cannot open %s (run tests from the repository root)\n", path);
		fail();
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = n;
	return buf;
}

static void check_path(const char *path, enum container_runtime rt, const char *id)
{
	struct container_ref ref;

	assert_int_equal(container_ref__from_cgroup_path(path, &ref), 0);
	if (ref.runtime != rt)
		print_error("%s: runtime %s, expected %s\n", path,
			    container_runtime__name(ref.runtime), container_runtime__name(rt));
	assert_int_equal(ref.runtime, rt);
	assert_string_equal(ref.id, id);
}

static void test_path_shapes(void **state)
{
	(void)state;
	/* Docker, cgroupfs and systemd drivers. */
	check_path("/docker/" ID1, CONTAINER_DOCKER, ID1);
	check_path("/docker/" ID1 "/", CONTAINER_DOCKER, ID1);
	check_path("/system.slice/docker-" ID1 ".scope", CONTAINER_DOCKER, ID1);
	/* Docker in Docker: the innermost container. */
	check_path("/docker/" ID1 "/docker/" ID2, CONTAINER_DOCKER, ID2);
	/* A sub-cgroup made inside the container still belongs to it. */
	check_path("/docker/" ID1 "/init.scope", CONTAINER_DOCKER, ID1);
	/* containerd through CRI, systemd driver, and nerdctl. */
	check_path("/kubepods.slice/kubepods-besteffort.slice/"
		   "kubepods-besteffort-pod0d1c2b3a_4e5f_6789_abcd_ef0123456789.slice/"
		   "cri-containerd-" ID2 ".scope",
		   CONTAINER_CONTAINERD, ID2);
	check_path("/system.slice/nerdctl-" ID3 ".scope", CONTAINER_CONTAINERD, ID3);
	/* Kubernetes with the cgroupfs driver names no runtime. */
	check_path("/kubepods/burstable/pod0d1c2b3a-4e5f-6789-abcd-ef0123456789/" ID3,
		   CONTAINER_CRI, ID3);
	check_path("/kubepods/" ID3, CONTAINER_CRI, ID3);
	/* CRI-O. */
	check_path("/kubepods.slice/kubepods-pod1.slice/crio-" ID1 ".scope", CONTAINER_CRIO, ID1);
	check_path("/crio-" ID1 ".scope", CONTAINER_CRIO, ID1);
	/* podman: systemd (root and rootless) and cgroupfs. */
	check_path("/machine.slice/libpod-" ID2 ".scope", CONTAINER_PODMAN, ID2);
	check_path("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID2 ".scope",
		   CONTAINER_PODMAN, ID2);
	check_path("/libpod_parent/libpod-" ID2, CONTAINER_PODMAN, ID2);
	check_path("/machine.slice/libpod-" ID2 ".scope/container", CONTAINER_PODMAN, ID2);

	/* Host: everything else. */
	check_path("/", CONTAINER_HOST, "");
	check_path("/user.slice/user-0.slice/session-1.scope", CONTAINER_HOST, "");
	check_path("/system.slice/docker.service", CONTAINER_HOST, "");
	check_path("/process_api/7799e22dec9ebb0967618bd9c3d80b63", CONTAINER_HOST, "");
	/* Monitors are not the container. */
	check_path("/machine.slice/libpod-conmon-" ID2 ".scope", CONTAINER_HOST, "");
	check_path("/system.slice/crio-conmon-" ID1 ".scope", CONTAINER_HOST, "");
	/* A bare id outside docker/ or kubepods says nothing about a runtime. */
	check_path("/" ID1, CONTAINER_HOST, "");
	/* Ids must be exactly 64 lowercase hex digits. */
	check_path("/docker/" ID1 "0", CONTAINER_HOST, "");
	check_path("/docker/3F1C2A9D8E7B6A5F4E3D2C1B0A998877665544332211FFEEDDCCBBAA99887766",
		   CONTAINER_HOST, "");
	check_path("/docker/3f1c2a9d", CONTAINER_HOST, "");
	check_path("/system.slice/docker-" ID1 ".scop", CONTAINER_HOST, "");
	check_path("/system.slice/docker-" ID1, CONTAINER_HOST, "");
	check_path("/system.slice/docker-.scope", CONTAINER_HOST, "");
	check_path("/dockerX/" ID1, CONTAINER_HOST, "");
}

static void check_pod(const char *path, int ret, const char *uid, const char *qos)
{
	struct k8s_pod pod;
	int r = k8s_pod__from_cgroup_path(path, &pod);

	if (r != ret)
		print_error("%s: %d, expected %d\n", path, r, ret);
	assert_int_equal(r, ret);
	assert_string_equal(pod.uid, uid);
	assert_string_equal(pod.qos, qos);
}

/* Pod UID and QoS from the shapes the kubelet makes (systemd and cgroupfs drivers). */
static void test_pod_shapes(void **state)
{
	static const char uid[] = "0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5";

	(void)state;
	check_pod("/kubepods.slice/kubepods-burstable.slice/"
		  "kubepods-burstable-pod0b7e4bd2_92bb_4ae1_8e6b_6fb0d2a2c8d5.slice/"
		  "cri-containerd-" ID1 ".scope",
		  0, uid, "burstable");
	check_pod("/kubepods.slice/kubepods-besteffort.slice/"
		  "kubepods-besteffort-pod0b7e4bd2_92bb_4ae1_8e6b_6fb0d2a2c8d5.slice/crio-" ID1
		  ".scope",
		  0, uid, "besteffort");
	check_pod("/kubepods.slice/kubepods-pod0b7e4bd2_92bb_4ae1_8e6b_6fb0d2a2c8d5.slice/"
		  "cri-containerd-" ID1 ".scope",
		  0, uid, "guaranteed");
	check_pod("/kubepods/burstable/pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5/" ID1, 0, uid,
		  "burstable");
	check_pod("/kubepods/besteffort/pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5/" ID1, 0, uid,
		  "besteffort");
	check_pod("/kubepods/pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5/" ID1, 0, uid, "guaranteed");
	/* kind and kubelets with --cgroup-root: the pods' tree under another slice */
	check_pod("/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
		  "kubelet-kubepods-besteffort-pod0b7e4bd2_92bb_4ae1_8e6b_6fb0d2a2c8d5.slice/"
		  "cri-containerd-" ID1 ".scope",
		  0, uid, "besteffort");
	/* Docker in a pod: the pod is still the pod */
	check_pod("/kubepods/burstable/pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5/" ID1 "/docker/" ID2,
		  0, uid, "burstable");
	/* the pod's own cgroup (its pause process's parent) */
	check_pod("/kubepods/burstable/pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5", 0, uid,
		  "burstable");

	/* not a pod */
	check_pod("/docker/" ID1, -ENOENT, "", "");
	check_pod("/system.slice/docker-" ID1 ".scope", -ENOENT, "", "");
	check_pod("/kubepods.slice", -ENOENT, "", "");
	check_pod("/kubepods/burstable", -ENOENT, "", "");
	check_pod("/", -ENOENT, "", "");
	check_pod("/pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5/" ID1, -ENOENT, "", "");
	check_pod("/user.slice/mykubepods.slice/pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5", -ENOENT,
		  "", "");
	/* a pod component whose UID is not one */
	check_pod("/kubepods/burstable/pod0b7e4bd2-92bb-4ae1-8e6b/" ID1, -EINVAL, "", "");
	check_pod("/kubepods/burstable/pod0B7E4BD2-92bb-4ae1-8e6b-6fb0d2a2c8d5/" ID1, -EINVAL, "",
		  "");
	check_pod("/kubepods.slice/kubepods-pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5.slice", -EINVAL,
		  "", "");
	check_pod("/kubepods/pod0b7e4bd2_92bb_4ae1_8e6b_6fb0d2a2c8d5", -EINVAL, "", "");
	check_pod("kubepods/pod0b7e4bd2-92bb-4ae1-8e6b-6fb0d2a2c8d5", -EINVAL, "", "");
}

static void test_path_invalid(void **state)
{
	struct container_ref ref;
	char *big;

	(void)state;
	assert_int_equal(container_ref__from_cgroup_path("docker/" ID1, &ref), -EINVAL);
	assert_int_equal(container_ref__from_cgroup_path("", &ref), -EINVAL);
	assert_int_equal(container_ref__from_cgroup_path(NULL, &ref), -EINVAL);
	assert_int_equal(container_ref__from_cgroup_path("/docker/\x01" ID1, &ref), -EINVAL);
	big = malloc(CONTAINER_CGPATH_MAX + 10);
	assert_non_null(big);
	memset(big, 'a', CONTAINER_CGPATH_MAX + 9);
	big[0] = '/';
	big[CONTAINER_CGPATH_MAX + 9] = '\0';
	assert_int_equal(container_ref__from_cgroup_path(big, &ref), -EINVAL);
	free(big);
}

static void check_text_file(const char *name, enum container_runtime rt, const char *id,
			    const char *cgpath)
{
	char path[256], got[CONTAINER_CGPATH_MAX];
	struct container_ref ref;
	size_t len;
	char *text;

	snprintf(path, sizeof(path), FIXDIR "/%s", name);
	text = slurp(path, &len);
	assert_int_equal(container_ref__from_cgroup_text(text, len, &ref, got, sizeof(got)), 0);
	assert_int_equal(ref.runtime, rt);
	assert_string_equal(ref.id, id);
	assert_string_equal(got, cgpath);
	free(text);
}

static void test_cgroup_text(void **state)
{
	struct container_ref ref;
	char cg[CONTAINER_CGPATH_MAX];
	const char *t;

	(void)state;
	check_text_file("cgroup-docker-hybrid.txt", CONTAINER_DOCKER, ID1, "/docker/" ID1);
	check_text_file("cgroup-host.txt", CONTAINER_HOST, "", "/");
	/* cgroup v1 only: no v2 path, the first container line decides. */
	check_text_file("cgroup-v1-only.txt", CONTAINER_DOCKER, ID3, "");
	/* " (deleted)" is not part of the path. */
	check_text_file("cgroup-v2-deleted.txt", CONTAINER_DOCKER, ID1,
			"/system.slice/docker-" ID1 ".scope");

	/* v2 host, v1 container: the v1 line names it (hybrid hosts with no v2 controllers). */
	t = "0::/\n4:memory:/docker/" ID2 "\n";
	assert_int_equal(container_ref__from_cgroup_text(t, strlen(t), &ref, cg, sizeof(cg)), 0);
	assert_int_equal(ref.runtime, CONTAINER_DOCKER);
	assert_string_equal(ref.id, ID2);
	assert_string_equal(cg, "/");
	/* No trailing newline; NULL cgpath. */
	t = "0::/docker/" ID2;
	assert_int_equal(container_ref__from_cgroup_text(t, strlen(t), &ref, NULL, 0), 0);
	assert_string_equal(ref.id, ID2);
	/* A path containing ':' stays whole. */
	t = "0::/a:b/docker/" ID2 "\n";
	assert_int_equal(container_ref__from_cgroup_text(t, strlen(t), &ref, cg, sizeof(cg)), 0);
	assert_string_equal(cg, "/a:b/docker/" ID2);
}

static void test_cgroup_text_bad(void **state)
{
	static const char *bad[] = {
	    "",
	    "\n\n",
	    "garbage\n",
	    "0:/\n",
	    "0::\n",
	    "x::/\n",
	    ":memory:/\n",
	    "0::relative\n",
	    "0::/\n0::/docker/" ID1 "\n", /* two v2 lines */
	    "4:memory:/\nnot a line\n",
	};
	struct container_ref ref;
	char cg[16], *big;
	const char *t;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = container_ref__from_cgroup_text(bad[i], strlen(bad[i]), &ref, NULL, 0);

		if (err != -EINVAL)
			print_error("case %zu: %d\n", i, err);
		assert_int_equal(err, -EINVAL);
		assert_int_equal(ref.runtime, CONTAINER_HOST);
	}
	/* Embedded NUL. */
	assert_int_equal(container_ref__from_cgroup_text("0::/\0x\n", 7, &ref, NULL, 0), -EINVAL);
	/* cgpath too small for the path. */
	t = "0::/docker/" ID1 "\n";
	assert_int_equal(container_ref__from_cgroup_text(t, strlen(t), &ref, cg, sizeof(cg)),
			 -ENAMETOOLONG);
	/* Oversize text and an oversize line. */
	n = 70000;
	big = malloc(n);
	assert_non_null(big);
	memset(big, '/', n);
	memcpy(big, "0::", 3);
	assert_int_equal(container_ref__from_cgroup_text(big, n, &ref, NULL, 0), -E2BIG);
	assert_int_equal(container_ref__from_cgroup_text(big, 5000, &ref, NULL, 0), -EINVAL);
	free(big);
}

static void test_of_pid_self(void **state)
{
	struct container_ref ref;
	char cg[CONTAINER_CGPATH_MAX];

	(void)state;
	assert_int_equal(container_ref__of_pid(getpid(), &ref, cg, sizeof(cg)), 0);
	assert_true(cg[0] == '/' || cg[0] == '\0');
	assert_int_equal(container_ref__of_pid(0, &ref, cg, sizeof(cg)), -EINVAL);
	/* pid_max is at most 4194304. */
	assert_int_equal(container_ref__of_pid(99999999, &ref, cg, sizeof(cg)), -ENOENT);
}

static void test_parse_inspect(void **state)
{
	struct container_info info;
	size_t len;
	char *text;

	(void)state;
	text = slurp(FIXDIR "/inspect.json", &len);
	assert_int_equal(container_info__parse_inspect(text, len, &info), 0);
	assert_int_equal(info.runtime, CONTAINER_DOCKER);
	assert_string_equal(info.id, ID1);
	assert_string_equal(info.name, "pymac_baseline_1");
	assert_string_equal(info.image, "pymaccounter/python:3.11");
	assert_string_equal(info.project, "pymac");
	assert_string_equal(info.service, "baseline");
	assert_true(info.running);
	assert_int_equal(info.pid, 4242);
	assert_int_equal(info.cgroup_id, 0);
	free(text);

	text = slurp(FIXDIR "/docker-root/containers/" ID1 "/config.v2.json", &len);
	assert_int_equal(container_info__parse_inspect(text, len, &info), 0);
	assert_string_equal(info.id, ID1);
	assert_string_equal(info.name, "pymac_baseline_1");
	assert_string_equal(info.image, "pymaccounter/python:3.11");
	assert_string_equal(info.project, "pymac");
	assert_string_equal(info.service, "baseline");
	assert_true(info.running);
	assert_int_equal(info.pid, 4242);
	free(text);

	text = slurp(FIXDIR "/docker-root/containers/" ID2 "/config.v2.json", &len);
	assert_int_equal(container_info__parse_inspect(text, len, &info), 0);
	assert_string_equal(info.name, "lonely");
	assert_string_equal(info.project, "");
	assert_false(info.running);
	assert_int_equal(info.pid, 0);
	free(text);
}

static void test_parse_inspect_minimal_and_missing(void **state)
{
	struct container_info info;
	const char *t;

	(void)state;
	/* Only Id and Name are required; the rest may be absent or null. */
	t = "{\"Id\":\"" ID3 "\",\"Name\":\"/x\"}";
	assert_int_equal(container_info__parse_inspect(t, strlen(t), &info), 0);
	assert_string_equal(info.name, "x");
	assert_string_equal(info.image, "");
	assert_false(info.running);
	t = "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"Config\":null,\"State\":null}";
	assert_int_equal(container_info__parse_inspect(t, strlen(t), &info), 0);
	t = "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"Config\":{\"Labels\":null}}";
	assert_int_equal(container_info__parse_inspect(t, strlen(t), &info), 0);
	/* A stopped container reports no pid even if one is written. */
	t = "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"State\":{\"Running\":false,\"Pid\":77}}";
	assert_int_equal(container_info__parse_inspect(t, strlen(t), &info), 0);
	assert_int_equal(info.pid, 0);

	/* Missing Id, missing Name. */
	t = "{\"Name\":\"/x\"}";
	assert_int_equal(container_info__parse_inspect(t, strlen(t), &info), -EINVAL);
	t = "{\"Id\":\"" ID3 "\"}";
	assert_int_equal(container_info__parse_inspect(t, strlen(t), &info), -EINVAL);
	assert_string_equal(info.id, ""); /* no partial result */
}

static void test_parse_inspect_bad(void **state)
{
	static const char *bad[] = {
	    "",
	    "   ",
	    "null",
	    "[]",
	    "\"str\"",
	    "{",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\"",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\"} trailing",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\"}{}",
	    "{\"Id\":\"short\",\"Name\":\"/x\"}",
	    "{\"Id\":\"" ID3 "0\",\"Name\":\"/x\"}",
	    "{\"Id\":\"../../../../etc/passwd\",\"Name\":\"/x\"}",
	    "{\"Id\":42,\"Name\":\"/x\"}",
	    "{\"Id\":\"" ID3 "\",\"Name\":7}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/\"}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/a/b\"}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\\u0000y\"}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\\u001b[31m\"}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"Config\":[]}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"Config\":{\"Image\":5}}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"Config\":{\"Labels\":[]}}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"Config\":{\"Labels\":"
	    "{\"com.docker.compose.project\":1}}}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"State\":{\"Running\":\"yes\"}}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"State\":{\"Running\":true,\"Pid\":-1}}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"State\":{\"Running\":true,\"Pid\":1e3}}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",\"State\":{\"Running\":true,"
	    "\"Pid\":99999999999}}",
	    "{'Id':'" ID3 "'}",
	    "{\"Id\":\"" ID3 "\",\"Name\":\"/x\",}",
	};
	struct container_info info;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = container_info__parse_inspect(bad[i], strlen(bad[i]), &info);

		if (err != -EINVAL)
			print_error("case %zu (%s): %d\n", i, bad[i], err);
		assert_int_equal(err, -EINVAL);
	}
	/* A NUL inside the buffer, not at its end. */
	assert_int_equal(container_info__parse_inspect("{}\0{}", 5, &info), -EINVAL);
}

static void test_parse_oversize(void **state)
{
	struct container_info info, *list;
	char name[CONTAINER_NAME_MAX + 40], *big, *deep;
	size_t n, len;

	(void)state;
	/* A field that does not fit. */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	big = malloc(sizeof(name) + 200);
	assert_non_null(big);
	len = snprintf(big, sizeof(name) + 200, "{\"Id\":\"%s\",\"Name\":\"/%s\"}", ID3, name);
	assert_int_equal(container_info__parse_inspect(big, len, &info), -ENAMETOOLONG);
	free(big);

	/* A document over the limit is refused before parsing. */
	n = CONTAINER_JSON_MAX + 1;
	big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	assert_int_equal(container_info__parse_inspect(big, n, &info), -E2BIG);
	assert_int_equal(container_info__parse_list(big, n, &list, &len), -E2BIG);
	free(big);

	/* Nesting deeper than the tokenizer allows. */
	n = 10000;
	deep = malloc(2 * n + 1);
	assert_non_null(deep);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	deep[2 * n] = '\0';
	assert_int_equal(container_info__parse_list(deep, 2 * n, &list, &len), -EINVAL);
	free(deep);

	/* More list entries than CONTAINER_LIST_MAX. */
	n = CONTAINER_LIST_MAX + 1;
	big = malloc(n * 3 + 2);
	assert_non_null(big);
	len = 0;
	big[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(big + len, "{},", 3);
		len += 3;
	}
	big[len - 1] = ']';
	assert_int_equal(container_info__parse_list(big, len, &list, &n), -E2BIG);
	free(big);
}

static void test_parse_list(void **state)
{
	struct container_info *v;
	size_t n, len;
	char *text;
	const char *t;

	(void)state;
	text = slurp(FIXDIR "/list.json", &len);
	assert_int_equal(container_info__parse_list(text, len, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].id, ID1);
	assert_string_equal(v[0].name, "pymac_baseline_1");
	assert_string_equal(v[0].image, "pymaccounter/python:3.11");
	assert_string_equal(v[0].project, "pymac");
	assert_string_equal(v[0].service, "baseline");
	assert_true(v[0].running);
	assert_string_equal(v[1].name, "lonely");
	assert_false(v[1].running);
	assert_string_equal(v[2].name, "nolabels");
	assert_string_equal(v[2].image, "debian:bookworm");
	assert_string_equal(v[2].service, "");
	assert_true(v[2].running);
	free(v);
	free(text);

	t = "[]";
	assert_int_equal(container_info__parse_list(t, 2, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);

	/* One bad entry spoils the answer. */
	t = "[{\"Id\":\"" ID1 "\",\"Names\":[\"/a\"]},{\"Id\":\"" ID2 "\",\"Names\":[]}]";
	assert_int_equal(container_info__parse_list(t, strlen(t), &v, &n), -EINVAL);
	assert_null(v);
	assert_int_equal(n, 0);
	t = "[{\"Id\":\"" ID1 "\",\"Names\":[7]}]";
	assert_int_equal(container_info__parse_list(t, strlen(t), &v, &n), -EINVAL);
	t = "[{\"Id\":\"" ID1 "\"}]";
	assert_int_equal(container_info__parse_list(t, strlen(t), &v, &n), -EINVAL);
	t = "[{\"Id\":\"" ID1 "\",\"Names\":[\"/a\"],\"State\":5}]";
	assert_int_equal(container_info__parse_list(t, strlen(t), &v, &n), -EINVAL);
	t = "{\"Id\":\"" ID1 "\",\"Names\":[\"/a\"]}";
	assert_int_equal(container_info__parse_list(t, strlen(t), &v, &n), -EINVAL);
	t = "[1]";
	assert_int_equal(container_info__parse_list(t, strlen(t), &v, &n), -EINVAL);
}

static void test_http_parse(void **state)
{
	const char *body;
	size_t blen;
	int st;
	const char *t;

	(void)state;
	t = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), 0);
	assert_int_equal(st, 200);
	assert_int_equal(blen, 2);
	assert_memory_equal(body, "{}", 2);
	/* No Content-Length: to the end. */
	t = "HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n{\"message\":\"No such container\"}\n";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), 0);
	assert_int_equal(st, 404);
	assert_int_equal(blen, strlen(body));
	/* Content-Length shorter than the bytes: only that much. */
	t = "HTTP/1.1 200 OK\r\ncontent-length:  3 \r\n\r\nabcdef";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), 0);
	assert_int_equal(blen, 3);

	t = "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n{}";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EMSGSIZE);
	t = "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n{}";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EMSGSIZE);
	t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EPROTO);
	t = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EPROTO);
	t = "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n{}";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EPROTO);
	t = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EPROTO);
	t = "HTTP/2 200 OK\r\n\r\n";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EPROTO);
	t = "HTTP/1.1 2x0 OK\r\n\r\n";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EPROTO);
	t = "HTTP/1.1 2000 OK\r\n\r\n";
	assert_int_equal(container_http__parse(t, strlen(t), &st, &body, &blen), -EPROTO);
	t = "";
	assert_int_equal(container_http__parse(t, 0, &st, &body, &blen), -EPROTO);
	assert_null(body);
}

static void test_mountinfo(void **state)
{
	char out[256], small[8];
	size_t len;
	char *text;
	const char *t;

	(void)state;
	text = slurp(FIXDIR "/mountinfo.txt", &len);
	/* The partial (non-root) cgroup2 mount is skipped; \040 is a space. */
	assert_int_equal(cgroup2__mount_from_mountinfo(text, len, out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/uni fied");
	assert_int_equal(cgroup2__mount_from_mountinfo(text, len, small, sizeof(small)),
			 -ENAMETOOLONG);
	free(text);
	t = "41 31 0:36 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";
	assert_int_equal(cgroup2__mount_from_mountinfo(t, strlen(t), out, sizeof(out)), -ENOENT);
	t = "1 2 3 / /x\n - cgroup2 cgroup2 rw\n";
	assert_int_equal(cgroup2__mount_from_mountinfo(t, strlen(t), out, sizeof(out)), -ENOENT);
	t = "28 22 0:25 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw";
	assert_int_equal(cgroup2__mount_from_mountinfo(t, strlen(t), out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup");
}

static void test_cgroup2_self(void **state)
{
	char cg[CONTAINER_CGPATH_MAX], back[CONTAINER_CGPATH_MAX];
	struct container_ref ref;
	uint64_t id;

	(void)state;
	assert_int_equal(container_ref__of_pid(getpid(), &ref, cg, sizeof(cg)), 0);
	if (!cg[0]) {
		skip(); /* no cgroup v2 here */
		return;
	}
	assert_int_equal(cgroup2__id_of_path(cg, &id), 0);
	assert_true(id > 0);
	assert_int_equal(cgroup2__path_of_id(id, back, sizeof(back)), 0);
	assert_string_equal(back, cg);
	assert_int_equal(cgroup2__id_of_path("/../etc", &id), -EINVAL);
	assert_int_equal(cgroup2__id_of_path("/a/./b", &id), -EINVAL);
	assert_int_equal(cgroup2__id_of_path("rel", &id), -EINVAL);
	assert_int_equal(cgroup2__id_of_path("/pymac-no-such-cgroup", &id), -ENOENT);
	/* Inode numbers of kernfs never reach this. */
	assert_int_equal(cgroup2__path_of_id(UINT64_MAX, back, sizeof(back)), -ENOENT);
}

/* ---- files fallback and a fake engine ---- */

/* No podman unless a test asks for podman's fixture: the machine's own must not leak in. */
static void no_podman(void)
{
	containers__configure_podman("/nonexistent/pymac-podman.sock", "/nonexistent/pymac-podman",
				     "/nonexistent/pymac-podman-run");
}

static void use_fixture_root(void)
{
	containers__configure("/nonexistent/pymac-test.sock", FIXDIR "/docker-root", 500);
	no_podman();
}

static void test_files_lookup(void **state)
{
	struct container_info info, *v;
	size_t n;

	(void)state;
	use_fixture_root();
	assert_int_equal(container_info__lookup(ID2, &info), 0);
	assert_string_equal(info.name, "lonely");
	assert_int_equal(container_info__lookup("lonely", &info), 0);
	assert_string_equal(info.id, ID2);
	assert_int_equal(container_info__lookup("aa11", &info), 0);
	assert_string_equal(info.id, ID2);
	/* Its config says running with pid 4242, which is not in that container here. */
	assert_int_equal(container_info__lookup("pymac_baseline_1", &info), 0);
	assert_string_equal(info.id, ID1);
	assert_string_equal(info.service, "baseline");
	assert_false(info.running);
	assert_int_equal(info.pid, 0);
	assert_int_equal(info.cgroup_id, 0);
	assert_int_equal(container_info__lookup("nosuch", &info), -ENOENT);
	assert_int_equal(container_info__lookup("bbbb", &info), -ENOENT);
	assert_int_equal(container_info__lookup("../etc", &info), -EINVAL);
	assert_int_equal(container_info__lookup("a b", &info), -EINVAL);
	assert_int_equal(container_info__lookup("", &info), -EINVAL);

	/* The unparsable config is skipped; nothing is running. */
	assert_int_equal(container_info__list(true, &v, &n), 0);
	assert_int_equal(n, 2);
	free(v);
	assert_int_equal(container_info__list(false, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
}

static void test_parse_storage(void **state)
{
	struct container_info *v;
	size_t n, len;
	char *text = slurp(FIXDIR "/podman-root/overlay-containers/containers.json", &len);
	static const char *const bad[] = {
	    "{}",
	    "[{\"names\":[\"a\"]}]",					   /* no id */
	    "[{\"id\":\"" ID4 "\"}]",					   /* no names */
	    "[{\"id\":\"" ID4 "\",\"names\":[]}]",			   /* empty names */
	    "[{\"id\":\"" ID4 "\",\"names\":[1]}]",			   /* a name not a string */
	    "[{\"id\":\"abc\",\"names\":[\"a\"]}]",			   /* short id */
	    "[{\"id\":\"" ID4 "\",\"names\":[\"a/b\"]}]",		   /* a path for a name */
	    "[{\"id\":\"" ID4 "\",\"names\":[\"a\"],\"metadata\":\"{\"}]", /* metadata not JSON */
	    "[{\"id\":\"" ID4 "\",\"names\":[\"a\"],\"metadata\":\"[]\"}]", /* nor an object */
	};

	(void)state;
	assert_int_equal(container_info__parse_storage(text, len, &v, &n), 0);
	free(text);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].runtime, CONTAINER_PODMAN);
	assert_string_equal(v[0].id, ID4);
	assert_string_equal(v[0].name, "pmweb");
	assert_string_equal(v[0].image, "localhost/pymaccounter/python:3.11");
	assert_false(v[0].running);
	/* without metadata, the image is known by its id only */
	assert_string_equal(v[1].name, "buildah-working-container");
	assert_string_equal(v[1].image,
			    "e90c86bb30b8353e6f00d1082c37d3fe1452989e61e729fe909ffd20440d12b1");
	free(v);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = (void *)1;
		if (container_info__parse_storage(bad[i], strlen(bad[i]), &v, &n) != -EINVAL) {
			print_error("accepted: %s\n", bad[i]);
			fail();
		}
		assert_null(v);
	}
}

/* podman without its service: containers/storage's files name the containers. */
static void test_podman_storage_lookup(void **state)
{
	struct container_info info, *v;
	size_t n;

	(void)state;
	use_fixture_root();
	containers__configure_podman(NULL, FIXDIR "/podman-root", FIXDIR "/podman-run");
	assert_int_equal(container_info__lookup("pmweb", &info), 0);
	assert_int_equal(info.runtime, CONTAINER_PODMAN);
	assert_string_equal(info.id, ID4);
	assert_string_equal(info.image, "localhost/pymaccounter/python:3.11");
	/* Its pidfile says 1, and pid 1 is not in that container: not running. */
	assert_false(info.running);
	assert_int_equal(info.pid, 0);
	assert_int_equal(container_info__lookup("826b", &info), 0);
	assert_string_equal(info.id, ID5);
	/* Docker's fixture containers and podman's: one list. */
	assert_int_equal(container_info__list(true, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(v[2].runtime, CONTAINER_PODMAN);
	assert_int_equal(v[3].runtime, CONTAINER_PODMAN);
	free(v);
	/* No podman at all: Docker's list alone, and no error. */
	no_podman();
	assert_int_equal(container_info__lookup("pmweb", &info), -ENOENT);
	assert_int_equal(container_info__list(true, &v, &n), 0);
	assert_int_equal(n, 2);
	free(v);
}

/* A one-shot engine: answers the first request with canned bytes (or nothing). */
static pid_t fake_engine(const char *sock, const char *answer, size_t len, bool hang)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd, cfd;
	pid_t pid;

	unlink(sock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		char req[1024];

		cfd = accept(lfd, NULL, NULL);
		if (cfd < 0)
			_exit(1);
		if (read(cfd, req, sizeof(req)) <= 0)
			_exit(1);
		if (hang) {
			pause();
			_exit(0);
		}
		while (len) {
			ssize_t w = write(cfd, answer, len);

			if (w <= 0)
				_exit(1);
			answer += w;
			len -= w;
		}
		_exit(0);
	}
	close(lfd);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_fake_engine(void **state)
{
	char sock[] = "/tmp/pymac-test-engine.XXXXXX", path[64], *body, *ans, *json;
	struct container_info info;
	size_t blen, jlen, alen;
	int st;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(sock));
	snprintf(path, sizeof(path), "%s/e.sock", sock);
	containers__configure(path, FIXDIR "/docker-root", 300);

	/* A real inspect answer. */
	json = slurp(FIXDIR "/inspect.json", &jlen);
	ans = malloc(jlen + 128);
	assert_non_null(ans);
	alen = snprintf(ans, jlen + 128,
			"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
			"Content-Length: %zu\r\n\r\n%s",
			jlen, json);
	pid = fake_engine(path, ans, alen, false);
	assert_int_equal(container_info__lookup("pymac_baseline_1", &info), 0);
	assert_string_equal(info.id, ID1);
	assert_string_equal(info.service, "baseline");
	/* The engine is trusted about running; pid 4242 is not in its cgroup so no id. */
	assert_true(info.running);
	reap(pid);
	free(ans);
	free(json);

	/* 404 from the engine is final: no fallback to the files. */
	ans = "HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"No such container: lonely\"}";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_info__lookup("lonely", &info), -ENOENT);
	reap(pid);

	/* An engine that never answers: timeout, then the files. */
	pid = fake_engine(path, NULL, 0, true);
	assert_int_equal(container_engine__get("/_ping", &st, &body, &blen), -ETIMEDOUT);
	reap(pid);
	pid = fake_engine(path, NULL, 0, true);
	assert_int_equal(container_info__lookup("lonely", &info), 0);
	assert_string_equal(info.id, ID2);
	reap(pid);

	/* Chunked, truncated and garbage answers. */
	ans = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_engine__get("/_ping", &st, &body, &blen), -EPROTO);
	reap(pid);
	ans = "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\n{}";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_engine__get("/_ping", &st, &body, &blen), -EMSGSIZE);
	reap(pid);
	ans = "HTTP/1.0 200 OK\r\n\r\n{\"Id\": 5}";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_info__lookup("lonely", &info), -EINVAL);
	reap(pid);
	ans = "HTTP/1.0 500 Internal Server Error\r\n\r\n";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_info__lookup("lonely", &info), -EPROTO);
	reap(pid);

	/* An answer longer than any JSON accepted. */
	alen = CONTAINER_JSON_MAX + (128u << 10);
	ans = malloc(alen);
	assert_non_null(ans);
	memset(ans, ' ', alen);
	memcpy(ans, "HTTP/1.0 200 OK\r\n\r\n", 19);
	pid = fake_engine(path, ans, alen, false);
	containers__configure(NULL, NULL, 5000);
	assert_int_equal(container_engine__get("/_ping", &st, &body, &blen), -EMSGSIZE);
	reap(pid);
	free(ans);

	/* Paths are checked before anything is sent. */
	assert_int_equal(container_engine__get("/a b", &st, &body, &blen), -EINVAL);
	assert_int_equal(container_engine__get("/a\r\nX: y", &st, &body, &blen), -EINVAL);
	assert_int_equal(container_engine__get("rel", &st, &body, &blen), -EINVAL);

	unlink(path);
	rmdir(sock);
}

/* ---- a real container ---- */

static int run(const char *cmd, char *out, size_t outlen)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int st;

	if (!p)
		return -1;
	if (out && outlen) {
		n = fread(out, 1, outlen - 1, p);
		out[n] = '\0';
		while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
			out[--n] = '\0';
	} else {
		char sink[256];

		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_real_container(void **state)
{
	char id[128], name[256], pidbuf[32], cg[CONTAINER_CGPATH_MAX], back[CONTAINER_CGPATH_MAX];
	char cmd[512], dir[512];
	struct container_info info, byname, fromfile, *v;
	struct container_ref ref;
	struct stat st;
	bool listed = false;
	size_t n;
	pid_t pid;

	(void)state;
	containers__configure("/var/run/docker.sock", "/var/lib/docker", CONTAINER_TIMEOUT_MS);
	if (run("docker version >/dev/null 2>&1", NULL, 0)) {
		print_message("skipped: dockerd does not answer (run scripts/docker-setup.sh)\n");
		skip();
	}
	if (run("docker image inspect pymaccounter/python:3.11 >/dev/null 2>&1", NULL, 0)) {
		print_message("skipped: image pymaccounter/python:3.11 is missing "
			      "(run scripts/build-image.sh)\n");
		skip();
	}
	assert_int_equal(run("docker run -d --rm --network none pymaccounter/python:3.11 sleep 30",
			     id, sizeof(id)),
			 0);
	assert_int_equal(strlen(id), CONTAINER_ID_LEN);
	snprintf(cmd, sizeof(cmd), "docker inspect -f '{{.State.Pid}}' %s", id);
	assert_int_equal(run(cmd, pidbuf, sizeof(pidbuf)), 0);
	pid = atoi(pidbuf);
	snprintf(cmd, sizeof(cmd), "docker inspect -f '{{.Name}}' %s", id);
	assert_int_equal(run(cmd, name, sizeof(name)), 0);
	assert_true(pid > 0);

	/* pid -> container id */
	assert_int_equal(container_ref__of_pid(pid, &ref, cg, sizeof(cg)), 0);
	assert_int_equal(ref.runtime, CONTAINER_DOCKER);
	assert_string_equal(ref.id, id);

	/* id -> name, image; cgroup id = inode of its v2 directory */
	assert_int_equal(container_info__lookup(ref.id, &info), 0);
	assert_string_equal(info.id, id);
	assert_string_equal(info.name, name + 1);
	assert_string_equal(info.image, "pymaccounter/python:3.11");
	assert_true(info.running);
	assert_int_equal(info.pid, pid);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/unified/docker/%s", id);
	if (!stat(dir, &st))
		assert_int_equal(info.cgroup_id, st.st_ino);
	assert_true(info.cgroup_id != 0);
	/* cgroup id -> path -> the same container */
	assert_int_equal(cgroup2__path_of_id(info.cgroup_id, back, sizeof(back)), 0);
	assert_string_equal(back, cg);
	assert_int_equal(container_ref__from_cgroup_path(back, &ref), 0);
	assert_string_equal(ref.id, id);

	/* name and id prefix through the engine */
	assert_int_equal(container_info__lookup(name + 1, &byname), 0);
	assert_string_equal(byname.id, id);
	id[12] = '\0';
	assert_int_equal(container_info__lookup(id, &byname), 0);
	id[12] = info.id[12];
	assert_string_equal(byname.id, id);

	assert_int_equal(container_info__list(false, &v, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].id, id)) {
			listed = true;
			assert_int_equal(v[i].cgroup_id, info.cgroup_id);
			assert_int_equal(v[i].pid, pid);
		}
	}
	free(v);
	assert_true(listed);

	/* The same answers from config.v2.json when the socket is elsewhere. */
	containers__configure("/nonexistent/pymac-test.sock", NULL, -1);
	assert_int_equal(container_info__lookup(name + 1, &fromfile), 0);
	assert_string_equal(fromfile.id, id);
	assert_string_equal(fromfile.image, info.image);
	assert_true(fromfile.running);
	assert_int_equal(fromfile.pid, pid);
	assert_int_equal(fromfile.cgroup_id, info.cgroup_id);
	containers__configure("/var/run/docker.sock", NULL, -1);

	snprintf(cmd, sizeof(cmd), "docker rm -f %s >/dev/null 2>&1", id);
	run(cmd, NULL, 0);
	/* Gone: the engine says so. */
	assert_int_equal(container_info__lookup(id, &info), -ENOENT);
}

/* One line of the Engine's events stream, as Docker 20.10 sends it. */
static void test_event_parse(void **state)
{
	(void)state;
	static const char start[] =
	    "{\"status\":\"start\",\"id\":\"" ID1 "\",\"Type\":\"container\","
	    "\"Action\":\"start\",\"Actor\":{\"ID\":\"" ID1 "\",\"Attributes\":{"
	    "\"com.docker.compose.project\":\"shop\",\"com.docker.compose.service\":\"web\","
	    "\"image\":\"pymaccounter/python:3.11\",\"name\":\"shop_web_1\"}},"
	    "\"scope\":\"local\",\"time\":1796633678,\"timeNano\":1796633678056588976}";
	struct container_event ev;

	assert_int_equal(container_event__parse(start, strlen(start), &ev), 0);
	assert_int_equal(ev.kind, CONTAINER_EVENT_START);
	assert_string_equal(ev.info.id, ID1);
	assert_string_equal(ev.info.name, "shop_web_1");
	assert_string_equal(ev.info.project, "shop");
	assert_string_equal(ev.info.service, "web");
	assert_string_equal(ev.info.image, "pymaccounter/python:3.11");
	assert_true(ev.realtime_ns == 1796633678056588976ull);

	static const char die[] = "{\"Action\":\"die\",\"Actor\":{\"ID\":\"" ID1 "\"}}";
	assert_int_equal(container_event__parse(die, strlen(die), &ev), 0);
	assert_int_equal(ev.kind, CONTAINER_EVENT_DIE);
	assert_string_equal(ev.info.name, "");
	assert_true(ev.realtime_ns == 0);

	/* an exec_start action names its command: long, and not one of ours */
	static const char exec[] = "{\"Action\":\"exec_start: python3 -c import sys\","
				   "\"Actor\":{\"ID\":\"" ID1 "\"}}";
	assert_int_equal(container_event__parse(exec, strlen(exec), &ev), 0);
	assert_int_equal(ev.kind, CONTAINER_EVENT_OTHER);

	static const char *bad[] = {
	    "[]",
	    "{\"Action\":\"start\"}",
	    "{\"Action\":\"start\",\"Actor\":{\"ID\":\"abc\"}}",
	    "{\"Action\":\"start\",\"Actor\":{\"ID\":\"" ID1 "\",\"Attributes\":"
	    "{\"name\":\"a\\nb\"}}}",
	    "{\"Action\":7,\"Actor\":{\"ID\":\"" ID1 "\"}}",
	    "{\"Action\":\"start\",\"Actor\":{\"ID\":\"" ID1 "\"}} trailing",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(container_event__parse(bad[i], strlen(bad[i]), &ev), 0);
}

/* ---- running containers: the create body and the engine's answers ---- */

static void test_spec_json(void **state)
{
	const char *cmd[] = {"sh", "-c",      "read go < /gate/go && exec \"$@\"",
			     "sh", "python3", NULL};
	const char *env[] = {"A=1", "B=x=y", NULL}, *binds[] = {"/m:/modules:ro", NULL};
	const char *labels[] = {"pymaccounter.module=test_x.py", NULL}, *bad[] = {"NOEQUALS", NULL};
	struct container_spec spec = {.image = "img:1",
				      .cmd = cmd,
				      .env = env,
				      .binds = binds,
				      .labels = labels,
				      .workdir = "/tmp",
				      .tmpfs = "/tmp",
				      .init = true,
				      .read_only = true,
				      .no_network = true};
	struct json_object *o, *hc, *v;
	char *json = container_spec__json(&spec);

	(void)state;
	assert_non_null(json);
	o = json_tokener_parse(json);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "Image", &v));
	assert_string_equal(json_object_get_string(v), "img:1");
	assert_true(json_object_object_get_ex(o, "Cmd", &v));
	assert_int_equal(json_object_array_length(v), 5);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 2)),
			    "read go < /gate/go && exec \"$@\"");
	assert_true(json_object_object_get_ex(o, "Env", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)), "B=x=y");
	assert_true(json_object_object_get_ex(o, "Labels", &v));
	assert_true(json_object_object_get_ex(v, "pymaccounter.module", &v));
	assert_string_equal(json_object_get_string(v), "test_x.py");
	assert_true(json_object_object_get_ex(o, "HostConfig", &hc));
	assert_true(json_object_object_get_ex(hc, "NetworkMode", &v));
	assert_string_equal(json_object_get_string(v), "none");
	assert_true(json_object_object_get_ex(hc, "ReadonlyRootfs", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(hc, "Init", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(hc, "Binds", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
			    "/m:/modules:ro");
	assert_true(json_object_object_get_ex(hc, "Tmpfs", &v));
	assert_true(json_object_object_get_ex(v, "/tmp", &v));
	json_object_put(o);
	free(json);

	/* entries without their separator, and no command, are refused */
	spec.env = bad;
	assert_null(container_spec__json(&spec));
	assert_int_equal(errno, EINVAL);
	spec.env = env;
	spec.binds = bad;
	assert_null(container_spec__json(&spec));
	spec.binds = binds;
	spec.cmd = NULL;
	assert_null(container_spec__json(&spec));
}

static void test_engine_answer_members(void **state)
{
	const char *a = "{\"Id\":\"" ID3 "\",\"Warnings\":[]}",
		   *w = "{\"StatusCode\":3,\"Error\":null}";
	char out[80];
	long long v;

	(void)state;
	assert_int_equal(container_json__string(a, strlen(a), "Id", out, sizeof(out)), 0);
	assert_string_equal(out, ID3);
	assert_int_equal(container_json__string(a, strlen(a), "message", out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(container_json__string(a, strlen(a), "Warnings", out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(container_json__string(a, strlen(a), "Id", out, 10), -ENAMETOOLONG);
	assert_int_equal(container_json__int(w, strlen(w), "StatusCode", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(container_json__int(w, strlen(w), "Error", &v), -ENOENT);
	assert_int_equal(container_json__int("[1]", 3, "StatusCode", &v), -EINVAL);
	assert_int_equal(container_json__int("{", 1, "StatusCode", &v), -EINVAL);
}

static void test_fake_engine_run(void **state)
{
	char sock[] = "/tmp/pymac-test-engine.XXXXXX", path[64], msg[128], id[CONTAINER_ID_LEN + 1];
	const char *cmd[] = {"python3", NULL}, *ans;
	struct container_spec spec = {.name = "pymac-run-x-1", .image = "img:1", .cmd = cmd};
	char logs[] = "HTTP/1.0 200 OK\r\n\r\n"
		      "\x01\0\0\0\0\0\0\x04"
		      "out\n"
		      "\x02\0\0\0\0\0\0\x04"
		      "err\n";
	char got[64] = "";
	int fds[2], code;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(sock));
	snprintf(path, sizeof(path), "%s/e.sock", sock);
	containers__configure(path, FIXDIR "/docker-root", 300);

	ans = "HTTP/1.0 201 Created\r\n\r\n{\"Id\":\"" ID3 "\",\"Warnings\":[]}";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_engine__create(&spec, id, msg, sizeof(msg)), 0);
	assert_string_equal(id, ID3);
	reap(pid);
	ans = "HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"No such image: img:1\"}";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_engine__create(&spec, id, msg, sizeof(msg)), -ENOENT);
	assert_string_equal(msg, "No such image: img:1");
	assert_string_equal(id, "");
	reap(pid);
	ans = "HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"No such image\"}";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_engine__image_exists("img:1"), 0);
	reap(pid);
	assert_int_equal(container_engine__image_exists("../x"), -EINVAL);
	ans = "HTTP/1.0 200 OK\r\n\r\n{\"StatusCode\":3}";
	pid = fake_engine(path, ans, strlen(ans), false);
	assert_int_equal(container_engine__wait(ID3, 300, &code), 0);
	assert_int_equal(code, 3);
	reap(pid);
	assert_int_equal(container_engine__wait("nothex", 300, &code), -EINVAL);

	/* the two streams' frames, demultiplexed in their order */
	pid = fake_engine(path, logs, sizeof(logs) - 1, false);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(container_engine__logs(ID3, fds[1]), 0);
	close(fds[1]);
	assert_int_equal(read(fds[0], got, sizeof(got) - 1), 8);
	assert_string_equal(got, "out\nerr\n");
	close(fds[0]);
	reap(pid);
	/* a frame longer than the answer */
	logs[sizeof("HTTP/1.0 200 OK\r\n\r\n") - 1 + 7] = 0x40;
	pid = fake_engine(path, logs, sizeof(logs) - 1, false);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(container_engine__logs(ID3, fds[1]), -EPROTO);
	close(fds[0]);
	close(fds[1]);
	reap(pid);

	/* nobody on the socket */
	unlink(path);
	assert_int_equal(container_engine__ping(), -ENOENT);
	rmdir(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_shapes),
	    cmocka_unit_test(test_pod_shapes),
	    cmocka_unit_test(test_path_invalid),
	    cmocka_unit_test(test_cgroup_text),
	    cmocka_unit_test(test_cgroup_text_bad),
	    cmocka_unit_test(test_of_pid_self),
	    cmocka_unit_test(test_parse_inspect),
	    cmocka_unit_test(test_parse_inspect_minimal_and_missing),
	    cmocka_unit_test(test_parse_inspect_bad),
	    cmocka_unit_test(test_parse_oversize),
	    cmocka_unit_test(test_parse_list),
	    cmocka_unit_test(test_http_parse),
	    cmocka_unit_test(test_mountinfo),
	    cmocka_unit_test(test_cgroup2_self),
	    cmocka_unit_test(test_files_lookup),
	    cmocka_unit_test(test_parse_storage),
	    cmocka_unit_test(test_podman_storage_lookup),
	    cmocka_unit_test(test_fake_engine),
	    cmocka_unit_test(test_spec_json),
	    cmocka_unit_test(test_engine_answer_members),
	    cmocka_unit_test(test_fake_engine_run),
	    cmocka_unit_test(test_real_container),
	    cmocka_unit_test(test_event_parse),
	};

	no_podman();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
