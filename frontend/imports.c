/*
 * imports.c: `from resnet import BasicBlock, ResNet18` between .tg files.
 *
 * The module names a file in the folder of the file being compiled, as Python looks beside the
 * script it runs (sys.path[0]), from whichever file imports: resnet -> resnet.tg, models.resnet
 * -> models/resnet.tg. Each file is read and parsed once per compile (a second import of it finds
 * the same declarations), its own imports resolved first; its models and defs are what it
 * exports (its programs and train blocks are not imported, as a Python module's main is not
 * run). Unlike Python, the files of a compile share one namespace: every model and def of an
 * imported file joins the importing file's declarations (so that its own bodies find what they
 * use), an 'as' name too; a name declared twice across them is an error, as in one file. An
 * import checks that the names it lists exist.
 */
#include "frontend.h"

#include <string.h>

typedef struct {
    const char *path;
    Ast *ast;
    bool done; /* its imports resolved (false while they are: a cycle) */
} Module;

static Module *mods;
static int nmods;
static SourceReader reader;

/* "a/b/x.tg" + "models.resnet" -> "a/b/models/resnet.tg" */
static const char *module_path(const char *from, const char *mod) {
    const char *slash = strrchr(from, '/');
    const char *dir = slash ? ir_strndup(from, (size_t)(slash - from + 1)) : "";
    char *m = ir_strdup(mod);
    for (char *p = m; *p; p++)
        if (*p == '.')
            *p = '/';
    return ir_fmt("%s%s.tg", dir, m);
}

static void add_decl(Ast *ast, Decl *d) {
    for (int i = 0; i < ast->ndecls; i++)
        if (ast->decls[i] == d)
            return; /* imported twice (two imports, or a diamond): one declaration */
    Decl **ds = ir_alloc(sizeof(Decl *) * (size_t)(ast->ndecls + 1));
    if (ast->ndecls)
        memcpy(ds, ast->decls, sizeof(Decl *) * (size_t)ast->ndecls);
    ds[ast->ndecls++] = d;
    ast->decls = ds;
}

static void resolve(Ast *ast);

/* The parsed file of an import, or NULL (reported). */
static Ast *load(Decl *imp, const char *path) {
    for (int i = 0; i < nmods; i++)
        if (!strcmp(mods[i].path, path)) {
            if (!mods[i].done) {
                diag_error(imp->loc, "'%s' imports itself through a cycle of imports", path);
                return NULL;
            }
            return mods[i].ast;
        }
    const char *why = "cannot read";
    char *text = reader ? reader(path, &why) : NULL;
    if (!text) {
        diag_error(imp->loc, "cannot import '%s': %s: %s", imp->name, path, why);
        return NULL;
    }
    if (nmods >= 256) {
        diag_error(imp->loc, "more than 256 files imported");
        return NULL;
    }
    Module *m = ir_alloc(sizeof(Module) * (size_t)(nmods + 1));
    if (nmods)
        memcpy(m, mods, sizeof(Module) * (size_t)nmods);
    mods = m;
    int k = nmods++;
    mods[k] = (Module){.path = path, .ast = parse_file(path, text)};
    resolve(mods[k].ast);
    mods[k].done = true;
    return mods[k].ast;
}

static void import_one(Ast *ast, Decl *imp) {
    const char *path = module_path(mods[0].path, imp->name); /* sys.path[0]: the main file's folder */
    Ast *src = load(imp, path);
    if (!src)
        return;
    /* every model and def of the file (and of what it imports) joins, so that its own bodies find
     * the names they use: one namespace for all the files of a compile */
    for (int i = 0; i < src->ndecls; i++)
        if (src->decls[i]->kind == D_MODEL || src->decls[i]->kind == D_DEF)
            add_decl(ast, src->decls[i]);
    if (imp->used) /* from m import * */
        return;
    for (int p = 0; p < imp->nparams; p++) {
        Param *want = &imp->params[p];
        Decl *found = NULL;
        for (int i = 0; i < src->ndecls && !found; i++)
            if ((src->decls[i]->kind == D_MODEL || src->decls[i]->kind == D_DEF) &&
                !strcmp(src->decls[i]->name, want->name))
                found = src->decls[i];
        if (!found) {
            diag_error(want->loc, "cannot import name '%s' from '%s' (%s): it has no model or def of that name",
                       want->name, imp->name, path);
            continue;
        }
        if (want->dflt) { /* as NAME: the same declaration under another name too */
            Decl *alias = ir_alloc(sizeof(Decl));
            *alias = *found;
            alias->bind = want->dflt->str; /* print(net) still says the model's own name */
            add_decl(ast, alias);
        }
    }
}

static void resolve(Ast *ast) {
    int n = ast->ndecls; /* the file's own imports; what they add is appended after them */
    for (int i = 0; i < n; i++)
        if (ast->decls[i]->kind == D_IMPORT)
            import_one(ast, ast->decls[i]);
}

void resolve_imports(Ast *ast, SourceReader read) {
    mods = NULL;
    nmods = 0;
    reader = read;
    mods = ir_alloc(sizeof(Module));
    mods[0] = (Module){.path = ast->path, .ast = ast};
    nmods = 1;
    resolve(ast);
    mods[0].done = true;
}
