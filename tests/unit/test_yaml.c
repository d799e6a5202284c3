/*
 * test_yaml.c — src/yaml_tree.c: loading with marks, load errors, merge, ${...} interpolation
 * and the typed reads. Every expected line:column below was counted by hand from the input
 * text (1-based; a quoted scalar starts at its quote, a flow collection at its bracket, a
 * block mapping at its first key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "yaml_tree.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static wm_ydoc *load_named(const char *text, const char *name)
{
    wm_error err;
    wm_error_clear(&err);
    wm_ydoc *doc = NULL;
    wm_status s = wm_yaml_load_string(text, strlen(text), name, &doc, &err);
    if (s != WM_OK)
        fail_msg("load failed: %s:%d:%d: %s: %s", err.file, err.line, err.column, err.what,
                 err.why);
    assert_non_null(doc);
    assert_non_null(doc->root);
    assert_int_equal(doc->root->kind, WM_Y_MAP);
    return doc;
}

static wm_ydoc *load(const char *text) { return load_named(text, "t.yaml"); }

/* Loads text that must fail; returns the status, err filled. */
static wm_status load_fail(const char *text, wm_error *err)
{
    wm_error_clear(err);
    wm_ydoc *doc = (wm_ydoc *)&doc; /* must be reset to NULL */
    wm_status s = wm_yaml_load_string(text, strlen(text), "bad.yaml", &doc, err);
    assert_int_not_equal(s, WM_OK);
    assert_null(doc);
    return s;
}

/* Loads and resolves text whose resolution must fail. */
static wm_status resolve_fail(const char *text, wm_error *err)
{
    wm_ydoc *doc = load(text);
    wm_error_clear(err);
    wm_status s = wm_yaml_resolve(doc, err);
    assert_int_not_equal(s, WM_OK);
    wm_yaml_free(doc);
    return s;
}

static wm_ydoc *load_resolved(const char *text)
{
    wm_ydoc *doc = load(text);
    wm_error err;
    wm_error_clear(&err);
    if (wm_yaml_resolve(doc, &err) != WM_OK)
        fail_msg("resolve failed: %s:%d:%d: %s: %s", err.file, err.line, err.column, err.what,
                 err.why);
    return doc;
}

static const wm_ynode *at(const wm_ydoc *doc, const char *path)
{
    const wm_ynode *n = wm_ynode_at(doc->root, path);
    if (!n)
        fail_msg("no node at '%s'", path);
    return n;
}

static void check_scalar(const wm_ynode *n, const char *value, bool quoted, bool is_null)
{
    assert_non_null(n);
    assert_int_equal(n->kind, WM_Y_SCALAR);
    assert_string_equal(n->value, value);
    assert_int_equal(n->quoted, quoted);
    assert_int_equal(n->is_null, is_null);
}

static void check_mark(const wm_ynode *n, int line, int column)
{
    assert_non_null(n);
    assert_int_equal(n->line, line);
    assert_int_equal(n->column, column);
}

#define assert_contains(hay, needle)                                                           \
    do {                                                                                       \
        if (!strstr((hay), (needle)))                                                          \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));                          \
    } while (0)

static void check_err(const wm_error *err, wm_status code, const char *what, const char *file,
                      int line, int column, const char *why_part)
{
    assert_int_equal(err->code, code);
    assert_string_equal(err->what, what);
    assert_string_equal(err->file, file);
    assert_int_equal(err->line, line);
    assert_int_equal(err->column, column);
    assert_contains(err->why, why_part);
}

/* ---- loading ----------------------------------------------------------------------------- */

static void test_load_tree_and_marks(void **state)
{
    (void)state;
    wm_ydoc *doc = load("a: 1\n"
                        "b:\n"
                        "  c: hello\n"
                        "  d: [x, 'y', \"z\"]\n"
                        "e:\n"
                        "  - 10\n"
                        "  - k: v\n");
    const wm_ynode *root = doc->root;
    assert_null(root->parent);
    assert_int_equal(root->count, 3);
    assert_string_equal(root->keys[0], "a");
    assert_string_equal(root->keys[1], "b");
    assert_string_equal(root->keys[2], "e");
    assert_int_equal(root->key_lines[1], 2);
    assert_int_equal(root->key_columns[1], 1);

    const wm_ynode *a = at(doc, "a");
    check_scalar(a, "1", false, false);
    check_mark(a, 1, 4);
    assert_string_equal(a->file, "t.yaml");
    assert_ptr_equal(a->parent, root);

    const wm_ynode *b = at(doc, "b");
    assert_int_equal(b->kind, WM_Y_MAP);
    check_mark(b, 3, 3); /* a block mapping starts at its first key */
    assert_int_equal(b->count, 2);
    assert_int_equal(b->key_lines[1], 4);
    assert_int_equal(b->key_columns[1], 3);
    check_scalar(at(doc, "b.c"), "hello", false, false);
    check_mark(at(doc, "b.c"), 3, 6);
    assert_ptr_equal(at(doc, "b.c")->parent, b);

    const wm_ynode *d = at(doc, "b.d");
    assert_int_equal(d->kind, WM_Y_SEQ);
    check_mark(d, 4, 6);
    assert_int_equal(d->count, 3);
    check_scalar(d->items[0], "x", false, false);
    check_mark(d->items[0], 4, 7);
    check_scalar(d->items[1], "y", true, false);
    check_mark(d->items[1], 4, 10);
    check_scalar(d->items[2], "z", true, false);
    check_mark(d->items[2], 4, 15);
    assert_ptr_equal(d->items[2]->parent, d);

    const wm_ynode *e = at(doc, "e");
    assert_int_equal(e->kind, WM_Y_SEQ);
    check_mark(e, 6, 3);
    check_scalar(at(doc, "e.0"), "10", false, false);
    check_mark(at(doc, "e.0"), 6, 5);
    check_mark(at(doc, "e.1"), 7, 5);
    check_scalar(at(doc, "e.1.k"), "v", false, false);
    check_mark(at(doc, "e.1.k"), 7, 8);

    /* path lookups */
    assert_ptr_equal(wm_ynode_at(root, ""), root);
    assert_null(wm_ynode_at(root, "e.2"));
    assert_null(wm_ynode_at(root, "e.x"));
    assert_null(wm_ynode_at(root, "nope"));
    assert_null(wm_ynode_at(root, "a.b"));
    assert_null(wm_ynode_at(root, "b."));
    assert_null(wm_ynode_at(NULL, "a"));
    assert_ptr_equal(wm_ymap_get(root, "b"), b);
    assert_null(wm_ymap_get(root, "c"));
    assert_null(wm_ymap_get(e, "0"));
    wm_yaml_free(doc);
}

static void test_load_quoted_plain_null(void **state)
{
    (void)state;
    wm_ydoc *doc = load("p: null\n"
                        "q: \"null\"\n"
                        "r: ~\n"
                        "s:\n"
                        "t: ''\n"
                        "u: Null\n"
                        "v: NULL\n"
                        "w: nil\n"
                        "x: 'true'\n"
                        "y: |\n"
                        "  block\n"
                        "z: !!str 12\n"
                        "n: !!null ''\n");
    check_scalar(at(doc, "p"), "", false, true);
    check_scalar(at(doc, "q"), "null", true, false);
    check_scalar(at(doc, "r"), "", false, true);
    check_scalar(at(doc, "s"), "", false, true);
    check_scalar(at(doc, "t"), "", true, false);
    check_scalar(at(doc, "u"), "", false, true);
    check_scalar(at(doc, "v"), "", false, true);
    check_scalar(at(doc, "w"), "nil", false, false);
    check_scalar(at(doc, "x"), "true", true, false);
    check_scalar(at(doc, "y"), "block\n", true, false);
    check_scalar(at(doc, "z"), "12", true, false);
    check_scalar(at(doc, "n"), "", false, true);
    wm_yaml_free(doc);
}

static void test_load_empty_documents(void **state)
{
    (void)state;
    const char *empties[] = {"", "# only a comment\n", "---\n", "\n\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        wm_ydoc *doc = load(empties[i]);
        assert_int_equal(doc->root->count, 0);
        assert_int_equal(doc->root->kind, WM_Y_MAP);
        wm_yaml_free(doc);
    }
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/wm_test_yaml_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "x:\n  y: 3\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    wm_error err;
    wm_error_clear(&err);
    wm_ydoc *doc = NULL;
    assert_int_equal(wm_yaml_load_file(path, &doc, &err), WM_OK);
    const wm_ynode *y = at(doc, "x.y");
    check_scalar(y, "3", false, false);
    check_mark(y, 2, 6);
    assert_string_equal(y->file, path);
    wm_yaml_free(doc);
    unlink(path);

    /* missing file and a directory: WM_E_IO naming the path and the system's reason */
    assert_int_equal(wm_yaml_load_file("/nonexistent/wm.yaml", &doc, &err), WM_E_IO);
    assert_null(doc);
    assert_string_equal(err.what, "/nonexistent/wm.yaml");
    assert_contains(err.why, "No such file or directory");
    assert_int_equal(wm_yaml_load_file("/tmp", &doc, &err), WM_E_IO);
    assert_null(doc);
    assert_string_equal(err.what, "/tmp");
    assert_contains(err.why, "Is a directory");
}

/* ---- load errors ------------------------------------------------------------------------- */

static void test_error_duplicate_key(void **state)
{
    (void)state;
    wm_error err;
    assert_int_equal(load_fail("a:\n"
                               "  x: 1\n"
                               "  y: 2\n"
                               "  x: 3\n",
                               &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a.x", "bad.yaml", 4, 3, "duplicate key 'x'");
    assert_contains(err.why, "first at line 2, column 3");
}

static void test_error_syntax_unclosed_flow(void **state)
{
    (void)state;
    wm_error err;
    /* The sequence is still open at the end of input, which libyaml places at the start of
     * the line after the last one. */
    assert_int_equal(load_fail("a: [1, 2\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "YAML syntax", "bad.yaml", 2, 1,
              "did not find expected ',' or ']'");
    assert_contains(err.why, "while parsing a flow sequence at line 1, column 4");
}

static void test_error_syntax_bad_indent(void **state)
{
    (void)state;
    wm_error err;
    /* " c" is indented less than "b" but more than "a": it starts a new mapping where the
     * top-level one expects a key. */
    assert_int_equal(load_fail("a:\n"
                               "  b: 1\n"
                               " c: 2\n",
                               &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "YAML syntax", "bad.yaml", 3, 2, "did not find expected key");
    assert_contains(err.why, "while parsing a block mapping at line 1, column 1");

    /* a value where a mapping cannot start */
    assert_int_equal(load_fail("a: 1\n"
                               "  b: 2\n",
                               &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "YAML syntax", "bad.yaml", 2, 4,
              "mapping values are not allowed in this context");
}

static void test_error_reader(void **state)
{
    (void)state;
    wm_error err;
    /* 0xFF can never start a UTF-8 sequence; it is the 4th byte of line 1 */
    assert_int_equal(load_fail("a: \xff\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "YAML syntax", "bad.yaml", 1, 4, "invalid leading UTF-8 octet");
}

static void test_error_alias_anchor(void **state)
{
    (void)state;
    wm_error err;
    assert_int_equal(load_fail("base: &b\n"
                               "  x: 1\n"
                               "other: *b\n",
                               &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "base", "bad.yaml", 1, 7, "anchors and aliases are not supported");

    assert_int_equal(load_fail("a: 1\n"
                               "b: *x\n",
                               &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "b", "bad.yaml", 2, 4, "anchors and aliases are not supported");

    assert_int_equal(load_fail("a:\n  - &s 1\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a.0", "bad.yaml", 2, 5, "anchors and aliases are not supported");
}

static void test_error_root_and_documents(void **state)
{
    (void)state;
    wm_error err;
    assert_int_equal(load_fail("- 1\n- 2\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "document root", "bad.yaml", 1, 1, "is a list, not a mapping");

    assert_int_equal(load_fail("just text\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "document root", "bad.yaml", 1, 1, "is a scalar, not a mapping");

    assert_int_equal(load_fail("a: 1\n---\nb: 2\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "YAML document", "bad.yaml", 2, 1, "a second document");
}

static void test_error_keys_and_tags(void **state)
{
    (void)state;
    wm_error err;
    assert_int_equal(load_fail("a:\n  ? [x, y]\n  : 1\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a", "bad.yaml", 2, 5, "keys must be scalars");

    assert_int_equal(load_fail("a: 1\n~: 2\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "document root", "bad.yaml", 2, 1, "a key is empty or null");

    assert_int_equal(load_fail("a: !custom x\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a", "bad.yaml", 1, 4, "the tag '!custom' is not supported");

    assert_int_equal(load_fail("a: \"x\\0y\"\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a", "bad.yaml", 1, 4, "NUL character");
}

static void test_error_too_deep(void **state)
{
    (void)state;
    /* "a: " then 300 nested flow lists */
    char text[700];
    size_t n = 0;
    n += (size_t)snprintf(text, sizeof text, "a: ");
    for (int i = 0; i < 300; i++)
        text[n++] = '[';
    for (int i = 0; i < 300; i++)
        text[n++] = ']';
    text[n++] = '\n';
    text[n] = '\0';
    wm_error err;
    assert_int_equal(load_fail(text, &err), WM_E_INPUT);
    assert_contains(err.why, "nested more than 256 levels deep");
    assert_int_equal(err.line, 1);
}

/* ---- merge ------------------------------------------------------------------------------- */

static void test_merge(void **state)
{
    (void)state;
    wm_ydoc *dst = load_named("a:\n"
                              "  x: 1\n"
                              "  y: [1, 2, 3]\n"
                              "  z: keep\n"
                              "b: 2\n"
                              "m:\n"
                              "  k: 1\n"
                              "s: scalar\n",
                              "base.yaml");
    wm_ydoc *src = load_named("a:\n"
                              "  y: [9]\n"
                              "  x: 10\n"
                              "  w: new\n"
                              "c: 3\n"
                              "m: 5\n"
                              "s:\n"
                              "  deep: {v: 1}\n",
                              "user.yaml");
    wm_error err;
    wm_error_clear(&err);
    assert_int_equal(wm_yaml_merge(dst, src, &err), WM_OK);
    wm_yaml_free(src); /* dst must not point into src any more */

    const wm_ynode *root = dst->root;
    assert_int_equal(root->count, 5);
    const char *order[] = {"a", "b", "m", "s", "c"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(root->keys[i], order[i]);

    const wm_ynode *a = at(dst, "a");
    assert_int_equal(a->count, 4);
    const char *a_order[] = {"x", "y", "z", "w"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(a->keys[i], a_order[i]);

    /* nested override: value, mark and file from user.yaml */
    check_scalar(at(dst, "a.x"), "10", false, false);
    check_mark(at(dst, "a.x"), 3, 6);
    assert_string_equal(at(dst, "a.x")->file, "user.yaml");
    assert_int_equal(a->key_lines[0], 3);
    assert_int_equal(a->key_columns[0], 3);
    assert_ptr_equal(at(dst, "a.x")->parent, a);

    /* sequences are replaced whole */
    const wm_ynode *y = at(dst, "a.y");
    assert_int_equal(y->kind, WM_Y_SEQ);
    assert_int_equal(y->count, 1);
    check_scalar(y->items[0], "9", false, false);
    assert_ptr_equal(y->items[0]->parent, y);

    /* untouched keys keep their base marks */
    check_scalar(at(dst, "a.z"), "keep", false, false);
    check_mark(at(dst, "a.z"), 4, 6);
    assert_string_equal(at(dst, "a.z")->file, "base.yaml");
    assert_int_equal(a->key_lines[2], 4);

    /* new keys are appended with their marks */
    check_scalar(at(dst, "a.w"), "new", false, false);
    assert_int_equal(a->key_lines[3], 4);
    assert_string_equal(at(dst, "a.w")->file, "user.yaml");
    check_scalar(at(dst, "b"), "2", false, false);
    check_scalar(at(dst, "c"), "3", false, false);
    assert_ptr_equal(at(dst, "c")->parent, root);
    check_mark(at(dst, "c"), 5, 4);

    /* a mapping replaced by a scalar and a scalar by a mapping */
    check_scalar(at(dst, "m"), "5", false, false);
    assert_null(wm_ynode_at(root, "m.k"));
    check_scalar(at(dst, "s.deep.v"), "1", false, false);
    assert_ptr_equal(at(dst, "s.deep")->parent, at(dst, "s"));
    assert_ptr_equal(at(dst, "s")->parent, root);
    wm_yaml_free(dst);
}

static void test_merge_then_resolve(void **state)
{
    (void)state;
    /* References written in the user file resolve against the merged tree. */
    wm_ydoc *dst = load_named("r:\n  default: 0.05\n  layers: ${.default}\n", "base.yaml");
    wm_ydoc *src = load_named("r:\n  default: 0.1\n  extra: ${r.layers}\n", "user.yaml");
    wm_error err;
    wm_error_clear(&err);
    assert_int_equal(wm_yaml_merge(dst, src, &err), WM_OK);
    wm_yaml_free(src);
    assert_int_equal(wm_yaml_resolve(dst, &err), WM_OK);
    check_scalar(at(dst, "r.layers"), "0.1", false, false);
    check_scalar(at(dst, "r.extra"), "0.1", false, false);
    check_mark(at(dst, "r.layers"), 3, 11);
    wm_yaml_free(dst);
}

/* ---- interpolation ----------------------------------------------------------------------- */

static void test_interp_verify_run_block(void **state)
{
    (void)state;
    wm_ydoc *doc = load_resolved("verify_run:\n"
                                 "  device: meta\n"
                                 "  accept_rel_diff:\n"
                                 "    default: 0.05\n"
                                 "    layers: ${.default}\n"
                                 "    end2end: ${.default}\n"
                                 "    core: ${.default}\n");
    const char *keys[] = {"default", "layers", "end2end", "core"};
    for (size_t i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof path, "verify_run.accept_rel_diff.%s", keys[i]);
        const wm_ynode *n = at(doc, path);
        check_scalar(n, "0.05", false, false);
        check_mark(n, 4 + (int)i, 5 + (int)strlen(keys[i]) + 2);
        double v = 0;
        wm_error err;
        assert_int_equal(wm_ynode_double(n, path, &v, &err), WM_OK);
        assert_true(v == 0.05);
    }
    check_scalar(at(doc, "verify_run.device"), "meta", false, false);
    wm_yaml_free(doc);
}

static void test_interp_paths(void **state)
{
    (void)state;
    wm_ydoc *doc = load_resolved("a:\n"
                                 "  b:\n"
                                 "    c: deep\n"
                                 "abs: ${a.b.c}\n"
                                 "x: top\n"
                                 "outer:\n"
                                 "  x: mid\n"
                                 "  inner:\n"
                                 "    y: ${..x}\n"
                                 "    z: ${...x}\n"
                                 "chain_a: ${.chain_b}\n"
                                 "chain_b: ${.chain_c}\n"
                                 "chain_c: 42\n"
                                 "sizes: [480, 720]\n"
                                 "pick: ${sizes.1}\n"
                                 "grid:\n"
                                 "  - {w: 1}\n"
                                 "  - {w: 2}\n"
                                 "w2: ${grid.1.w}\n"
                                 "in_list: [\"${x}\", \"${.0}\"]\n"
                                 "models:\n"
                                 "  wan2.1-t2v-14b:\n"
                                 "    eps: 1.0e-6\n"
                                 "eps: ${models.wan2.1-t2v-14b.eps}\n");
    check_scalar(at(doc, "abs"), "deep", false, false);
    check_scalar(at(doc, "outer.inner.y"), "mid", false, false);
    check_scalar(at(doc, "outer.inner.z"), "top", false, false);
    check_scalar(at(doc, "chain_a"), "42", false, false);
    check_scalar(at(doc, "chain_b"), "42", false, false);
    uint64_t v = 0;
    wm_error err;
    assert_int_equal(wm_ynode_u64(at(doc, "chain_a"), "chain_a", 1, 100, &v, &err), WM_OK);
    assert_int_equal(v, 42);
    check_scalar(at(doc, "pick"), "720", false, false);
    check_scalar(at(doc, "w2"), "2", false, false);
    check_scalar(at(doc, "in_list.0"), "top", false, false);
    check_scalar(at(doc, "in_list.1"), "top", false, false); /* ${.0} is its list sibling */
    check_scalar(at(doc, "eps"), "1.0e-6", false, false);
    wm_yaml_free(doc);
}

static void test_interp_embedded_escape_flags(void **state)
{
    (void)state;
    wm_ydoc *doc = load_resolved("name: wan\n"
                                 "size: 14b\n"
                                 "run: \"run-${.name}-${.size}-x\"\n"
                                 "plain: ${.name}/${.size}\n"
                                 "lit: \\${.name}\n"
                                 "mixed: 'cost \\${.name} and ${.name}'\n"
                                 "n: null\n"
                                 "m: ${.n}\n"
                                 "s: \"12\"\n"
                                 "t: ${.s}\n"
                                 "k: 7\n"
                                 "q: \"${.k}\"\n");
    check_scalar(at(doc, "run"), "run-wan-14b-x", true, false);
    check_scalar(at(doc, "plain"), "wan/14b", true, false); /* text around ${} = a string */
    check_scalar(at(doc, "lit"), "${.name}", false, false);
    check_scalar(at(doc, "mixed"), "cost ${.name} and wan", true, false);
    /* whole-scalar interpolation copies the target's flags */
    check_scalar(at(doc, "m"), "", false, true);
    check_scalar(at(doc, "t"), "12", true, false);
    check_scalar(at(doc, "q"), "7", false, false);
    /* resolving twice changes nothing (the literal ${.name} stays literal) */
    wm_error err;
    wm_error_clear(&err);
    assert_int_equal(wm_yaml_resolve(doc, &err), WM_OK);
    check_scalar(at(doc, "lit"), "${.name}", false, false);
    wm_yaml_free(doc);
}

static void test_interp_cycles(void **state)
{
    (void)state;
    wm_error err;
    assert_int_equal(resolve_fail("a:\n"
                                  "  b: ${.c}\n"
                                  "  c: ${.b}\n",
                                  &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a.b", "t.yaml", 2, 6, "interpolation cycle: a.b -> a.c -> a.b");

    assert_int_equal(resolve_fail("x: 1\n"
                                  "a: ${.a}\n",
                                  &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a", "t.yaml", 2, 4, "interpolation cycle: a -> a");

    /* a cycle reached through a scalar outside it names only the cycle */
    assert_int_equal(resolve_fail("p: ${q}\n"
                                  "q: \"v-${r}\"\n"
                                  "r: ${q}\n",
                                  &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "q", "t.yaml", 2, 4, "interpolation cycle: q -> r -> q");
}

static void test_interp_missing_and_bad_targets(void **state)
{
    (void)state;
    wm_error err;
    assert_int_equal(resolve_fail("verify_run:\n"
                                  "  device: meta\n"
                                  "  accept_rel_diff:\n"
                                  "    default: 0.05\n"
                                  "    layers: ${.defualt}\n",
                                  &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "verify_run.accept_rel_diff.layers", "t.yaml", 5, 13,
              "verify_run.accept_rel_diff.defualt");
    assert_contains(err.why, "does not exist");
    assert_contains(err.fix, "${.default}");

    assert_int_equal(resolve_fail("a:\n"
                                  "  b: 1\n"
                                  "c: x-${a.q}\n",
                                  &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "c", "t.yaml", 3, 4, "a.q, which does not exist");
    assert_contains(err.fix, "${a.b}");

    assert_int_equal(resolve_fail("list: [1]\nc: ${list.3}\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "c", "t.yaml", 2, 4, "list.3, which does not exist");

    assert_int_equal(resolve_fail("a: {b: 1}\n"
                                  "c: ${a}\n",
                                  &err),
                     WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "c", "t.yaml", 2, 4, "a, which is a mapping");

    assert_int_equal(resolve_fail("a: [1]\nc: ${.a}\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "c", "t.yaml", 2, 4, "a, which is a list");

    assert_int_equal(resolve_fail("a: ${..x}\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a", "t.yaml", 1, 4, "climbs above the document root");

    assert_int_equal(resolve_fail("a: 'x ${.b'\nb: 1\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a", "t.yaml", 1, 4, "unterminated ${");

    assert_int_equal(resolve_fail("a: ${oc.env:HOME}\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "a", "t.yaml", 1, 4, "not a supported interpolation");

    assert_int_equal(resolve_fail("n: null\ns: a-${.n}\n", &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "s", "t.yaml", 2, 4, "which is null");
}

/* ---- typed reads ------------------------------------------------------------------------- */

static void test_read_u64(void **state)
{
    (void)state;
    wm_ydoc *doc = load("zero: 0\n"
                        "max: 18446744073709551615\n"
                        "over: 18446744073709551616\n"
                        "neg: -1\n"
                        "sci: 1e3\n"
                        "junk: 12abc\n"
                        "quoted: \"12\"\n"
                        "none: null\n"
                        "ok: 12\n"
                        "map: {a: 1}\n"
                        "spaced: \" 12\"\n");
    wm_error err;
    uint64_t v = 0;

    assert_int_equal(wm_ynode_u64(at(doc, "ok"), "t.ok", 1, 100, &v, &err), WM_OK);
    assert_int_equal(v, 12);
    assert_int_equal(wm_ynode_u64(at(doc, "zero"), "t.zero", 0, 5, &v, &err), WM_OK);
    assert_int_equal(v, 0);
    assert_int_equal(wm_ynode_u64(at(doc, "max"), "t.max", 1, UINT64_MAX, &v, &err), WM_OK);
    assert_true(v == UINT64_MAX);

    struct {
        const char *key;
        uint64_t min, max;
        int line, column;
        const char *why;
    } bad[] = {
        {"zero", 1, 10, 1, 7, "too small"},
        {"over", 0, UINT64_MAX, 3, 7, "'18446744073709551616' is too large"},
        {"neg", 0, 10, 4, 6, "'-1' is negative"},
        {"sci", 0, 10000, 5, 6, "'1e3' is not a whole number"},
        {"junk", 0, 100, 6, 7, "'12abc' is not a whole number"},
        {"quoted", 0, 100, 7, 9, "\"12\" is a string"},
        {"none", 0, 100, 8, 7, "has no value"},
        {"map", 0, 100, 10, 6, "is a mapping"},
        {"spaced", 0, 100, 11, 9, "is a string"},
        {"ok", 13, 100, 9, 5, "too small"},
        {"ok", 0, 11, 9, 5, "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "workloads.x.%s", bad[i].key);
        wm_error_clear(&err);
        v = 777;
        assert_int_equal(wm_ynode_u64(at(doc, bad[i].key), what, bad[i].min, bad[i].max, &v,
                                      &err),
                         WM_E_INPUT);
        assert_int_equal(v, 777);
        check_err(&err, WM_E_INPUT, what, "t.yaml", bad[i].line, bad[i].column, bad[i].why);
    }
    wm_ynode_u64(at(doc, "quoted"), "q", 0, 100, &v, &err);
    assert_contains(err.fix, "without quotes");

    /* A plain scalar with a leading space cannot come out of YAML, but the read is strict. */
    wm_ynode hand = {.kind = WM_Y_SCALAR, .value = (char *)" 12", .file = "h", .line = 9};
    wm_error_clear(&err);
    assert_int_equal(wm_ynode_u64(&hand, "hand", 0, 100, &v, &err), WM_E_INPUT);
    assert_string_equal(err.what, "hand");
    assert_int_equal(err.line, 9);
    assert_contains(err.why, "not a whole number");

    /* a missing node */
    wm_error_clear(&err);
    assert_int_equal(wm_ynode_u64(NULL, "t.gone", 0, 1, &v, &err), WM_E_INPUT);
    assert_string_equal(err.what, "t.gone");
    assert_contains(err.why, "is missing");
    wm_yaml_free(doc);
}

static void test_read_double(void **state)
{
    (void)state;
    wm_ydoc *doc = load("a: 0.05\n"
                        "b: 1e-6\n"
                        "c: nan\n"
                        "d: inf\n"
                        "e: 0.05x\n"
                        "f: \"0.05\"\n"
                        "g: .inf\n"
                        "h:\n"
                        "i: -2.5\n");
    wm_error err;
    double v = 0;
    assert_int_equal(wm_ynode_double(at(doc, "a"), "t.a", &v, &err), WM_OK);
    assert_true(v == 0.05);
    assert_int_equal(wm_ynode_double(at(doc, "b"), "t.b", &v, &err), WM_OK);
    assert_true(v == 1e-6);
    assert_int_equal(wm_ynode_double(at(doc, "i"), "t.i", &v, &err), WM_OK);
    assert_true(v == -2.5);

    /* An empty value ("h:") is marked right after its colon. */
    struct {
        const char *key;
        int line, column;
        const char *why;
    } bad[] = {
        {"c", 3, 4, "'nan' is out of range"},   {"d", 4, 4, "'inf' is out of range"},
        {"e", 5, 4, "'0.05x' is not a number"}, {"f", 6, 4, "\"0.05\" is a string"},
        {"g", 7, 4, "'.inf' is not a number"},  {"h", 8, 3, "has no value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "tol.%s", bad[i].key);
        wm_error_clear(&err);
        v = 9.0;
        assert_int_equal(wm_ynode_double(at(doc, bad[i].key), what, &v, &err), WM_E_INPUT);
        assert_true(v == 9.0);
        check_err(&err, WM_E_INPUT, what, "t.yaml", bad[i].line, bad[i].column, bad[i].why);
    }
    wm_yaml_free(doc);
}

static void test_read_bool_and_string(void **state)
{
    (void)state;
    wm_ydoc *doc = load("t: true\n"
                        "f: false\n"
                        "y: yes\n"
                        "o: on\n"
                        "T: True\n"
                        "q: \"true\"\n"
                        "n:\n"
                        "x: maybe\n"
                        "m: {a: 1}\n");
    wm_error err;
    bool b = false;
    assert_int_equal(wm_ynode_bool(at(doc, "t"), "w.t", &b, &err), WM_OK);
    assert_true(b);
    assert_int_equal(wm_ynode_bool(at(doc, "f"), "w.f", &b, &err), WM_OK);
    assert_false(b);

    struct {
        const char *key;
        int line, column;
        const char *why;
    } bad[] = {
        {"y", 3, 4, "'yes' is not a boolean here"}, {"o", 4, 4, "'on' is not a boolean here"},
        {"T", 5, 4, "'True' is not a boolean here"}, {"q", 6, 4, "\"true\" is a string"},
        {"n", 7, 3, "has no value"},                 {"x", 8, 4, "'maybe' is not true or false"},
        {"m", 9, 4, "is a mapping"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "w.%s", bad[i].key);
        wm_error_clear(&err);
        assert_int_equal(wm_ynode_bool(at(doc, bad[i].key), what, &b, &err), WM_E_INPUT);
        check_err(&err, WM_E_INPUT, what, "t.yaml", bad[i].line, bad[i].column, bad[i].why);
        assert_contains(err.fix, "write true or false");
    }

    const char *s = NULL;
    assert_int_equal(wm_ynode_string(at(doc, "q"), "w.q", &s, &err), WM_OK);
    assert_string_equal(s, "true");
    assert_int_equal(wm_ynode_string(at(doc, "x"), "w.x", &s, &err), WM_OK);
    assert_string_equal(s, "maybe");
    assert_int_equal(wm_ynode_string(at(doc, "n"), "w.n", &s, &err), WM_OK);
    assert_string_equal(s, "");
    wm_error_clear(&err);
    assert_int_equal(wm_ynode_string(at(doc, "m"), "w.m", &s, &err), WM_E_INPUT);
    check_err(&err, WM_E_INPUT, "w.m", "t.yaml", 9, 4, "is a mapping");

    /* wm_ynode_mark copies the node's location */
    wm_error_clear(&err);
    wm_ynode_mark(at(doc, "x"), &err);
    assert_string_equal(err.file, "t.yaml");
    assert_int_equal(err.line, 8);
    assert_int_equal(err.column, 4);
    wm_yaml_free(doc);
}

/* ---- whole life cycle (LeakSanitizer checks it under build/san) ---------------------------- */

static void test_lifecycle_no_leaks(void **state)
{
    (void)state;
    /* enough keys and long strings to need several arena blocks and a one-off large block */
    size_t cap = 1 << 20, n = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    n += (size_t)snprintf(big + n, cap - n, "base:\n  v: 1\nkeys:\n");
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(big + n, cap - n, "  k%d: ${base.v}\n", i);
    n += (size_t)snprintf(big + n, cap - n, "long: \"");
    for (int i = 0; i < 40000; i++)
        big[n++] = 'x';
    n += (size_t)snprintf(big + n, cap - n, "\"\n");
    wm_error err;
    wm_error_clear(&err);
    wm_ydoc *dst = NULL, *src = NULL;
    assert_int_equal(wm_yaml_load_string(big, n, "big.yaml", &dst, &err), WM_OK);
    free(big);
    static const char user[] = "base:\n  v: 2\nkeys: {new: \"${base.v}\"}\n";
    assert_int_equal(wm_yaml_load_string(user, strlen(user), "u.yaml", &src, &err), WM_OK);
    assert_int_equal(wm_yaml_merge(dst, src, &err), WM_OK);
    assert_int_equal(wm_yaml_merge(dst, src, &err), WM_OK); /* twice: same result */
    wm_yaml_free(src);
    assert_int_equal(wm_yaml_resolve(dst, &err), WM_OK);
    check_scalar(at(dst, "keys.k1999"), "2", false, false);
    check_scalar(at(dst, "keys.new"), "2", false, false);
    assert_int_equal(at(dst, "keys")->count, 2001);
    assert_int_equal(strlen(at(dst, "long")->value), 40000);
    wm_yaml_free(dst);

    /* failures part-way through free what they built */
    assert_int_equal(load_fail("a:\n  b: [1, 2, {c: 3}]\n  d: {e: [x, y\n", &err), WM_E_INPUT);
    assert_int_equal(load_fail("a:\n  b: [1, 2, {c: 3}]\n  b: 2\n", &err), WM_E_INPUT);
    wm_yaml_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_tree_and_marks),
        cmocka_unit_test(test_load_quoted_plain_null),
        cmocka_unit_test(test_load_empty_documents),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_error_duplicate_key),
        cmocka_unit_test(test_error_syntax_unclosed_flow),
        cmocka_unit_test(test_error_syntax_bad_indent),
        cmocka_unit_test(test_error_reader),
        cmocka_unit_test(test_error_alias_anchor),
        cmocka_unit_test(test_error_root_and_documents),
        cmocka_unit_test(test_error_keys_and_tags),
        cmocka_unit_test(test_error_too_deep),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_merge_then_resolve),
        cmocka_unit_test(test_interp_verify_run_block),
        cmocka_unit_test(test_interp_paths),
        cmocka_unit_test(test_interp_embedded_escape_flags),
        cmocka_unit_test(test_interp_cycles),
        cmocka_unit_test(test_interp_missing_and_bad_targets),
        cmocka_unit_test(test_read_u64),
        cmocka_unit_test(test_read_double),
        cmocka_unit_test(test_read_bool_and_string),
        cmocka_unit_test(test_lifecycle_no_leaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
