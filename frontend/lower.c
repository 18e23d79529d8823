/*
 * lower.c: AST -> Graph. The elaborator: its entry, lower_ast, its state L and the global names.
 *
 * .tg reads like the PyTorch it translates, so a program mixes two kinds of
 * values: compile-time ones (Python ints, floats, strings, lists, dtypes,
 * shapes, modules) that are evaluated here, and tensors, each of which becomes
 * a node in the program's graph. A tensor operation becomes ir_add(), whose
 * shape rule checks it at the user's line.
 *
 * lower_ast binds the global names (builtins, module classes, dtypes, namespaces, the file's
 * models), then elaborates each declaration in order: a program's statements run one by one
 * into its graph; a train block is checked, then lowered to its training step; a model that
 * nothing instantiated is run once alone, so that its errors show. The elaborator's other
 * files, one job each, share lower.h:
 *   namespaces.c PyTorch's module paths (torch.nn.functional) and what tgc has in each
 *   values.c    values and scopes
 *   args.c      call arguments and their conversion (int_arg, shape_from_values, ...)
 *   graph.c     nodes, storage groups, views and in-place writes (aliasing)
 *   format.c    Python's str() and format(), run-time text (print, f-strings)
 *   tensors.c   tensor operations and creation, type promotion
 *   modules.c   modules: construction, repr, calls (BatchNorm2d, ...), checking a model alone
 *   activations.c F.gelu, nn.LeakyReLU, softmax, ...: activation functions and modules
 *   losses.c    F.nll_loss, nn.BCEWithLogitsLoss, ...: losses with PyTorch's options
 *   schedulers.c torch.optim.lr_scheduler: StepLR, CosineAnnealingLR, LambdaLR, ...
 *   init.c      torch.nn.init: uniform_, xavier_uniform_, kaiming_normal_, ...
 *   tensorops.c clamp, one_hot, eye, linspace, var/std, stack, chunk/split
 *   gather.c    where, masked_fill, gather, scatter_add, index_select, x[index tensor]
 *   autograd.c  requires_grad, backward(), .grad
 *   optim.c     optimizers and their updates, losses
 *   builtins.c  builtin functions and methods: zeros(), print(), x.sum(), ...
 *   expr.c      expressions: names, attributes, calls
 *   stmt.c      statements: assignment, in-place updates, if
 *   train.c     train blocks: their checks and the training step
 */
#include "lower.h"

#include <string.h>

/* The elaborator's state (lower.h), cleared by each lower_ast. */
Lower L;

/* ---- the global names ---- */

static void def_func(const char *name) {
    Value *v = lw_mk(V_FUNC);
    v->s = name;
    lw_bind(L.globals, name, v);
}

static void def_globals(Ast *ast) {
    for (const Builtin *b = builtins; b->name; b++) /* the global functions of the builtin table */
        if (b->where & BI_GLOBAL)
            def_func(b->name);
    for (int i = 0; module_classes[i]; i++) {
        Value *v = lw_mk(V_CLASS);
        v->s = module_classes[i];
        lw_bind(L.globals, module_classes[i], v);
    }
    static const char *dts[] = {"f32", "f64", "i32", "i64", "u8", "float32", "float64", "double",
                                "int32", "int64", "long", "uint8"};
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        Value *v = lw_mk(V_DTYPE);
        v->dt = (DType)dtype_from_name(dts[i]);
        lw_bind(L.globals, dts[i], v);
    }
    /* `bool`, `float` and `int` are both functions and dtypes: as a dtype= argument they convert */
    for (int i = 0; i < L.globals->n; i++) {
        Binding *b = &L.globals->b[i];
        if (!strcmp(b->name, "bool") || !strcmp(b->name, "float") || !strcmp(b->name, "int")) {
            b->v->kind = V_PYTYPE;
            b->v->s = b->name;
        }
    }
    for (const NamespaceDef *n = namespaces; n->path; n++) { /* torch, nn, F, np, ... */
        const char *alias[4];
        Value *v = lw_mk(V_NAMESPACE);
        v->s = n->path;
        NamespaceDef words = {NULL, NULL, n->aliases};
        for (int k = 0, na = ns_members(&words, alias, 4); k < na; k++)
            lw_bind(L.globals, alias[k], v);
    }
    for (int i = 0; i < ast->ndecls; i++)
        if (ast->decls[i]->kind == D_MODEL || ast->decls[i]->kind == D_DEF) {
            Decl *d = ast->decls[i];
            const char *name = d->bind ? d->bind : d->name;
            if (find_in(L.globals, name)) {
                diag_error(d->loc, "%s name '%s' is already taken", decl_kind_name(d->kind), name);
                continue;
            }
            Value *v = lw_mk(d->kind == D_DEF ? V_DEF : V_CLASS);
            v->s = d->name;
            v->decl = d;
            lw_bind(L.globals, name, v);
        }
}

/* The tensor types models and defs declare, checked once where they are written (a dimension of
 * 2^62 is an error even if nothing is ever made of that type); symbolic dimensions count 1. */
static void check_declared_types(Ast *ast) {
    L.scope = L.globals;
    for (int i = 0; i < ast->ndecls; i++) {
        Decl *d = ast->decls[i];
        if (d->kind != D_MODEL && d->kind != D_DEF)
            continue;
        for (int k = 0; k < d->nparams; k++) {
            if (!is_tensor_type(d->params[k].type))
                continue;
            jmp_buf here, *outer = diag_catch;
            diag_catch = &here;
            if (setjmp(here))
                d->used = true; /* reported: not checked again as an unused model */
            else
                lw_eval(d->params[k].type);
            diag_catch = outer;
        }
    }
}

Lowered *lower_ast(Ast *ast) {
    memset(&L, 0, sizeof L);
    L.ast = ast;
    L.globals = push_scope();
    def_globals(ast);
    Lowered *out = ir_alloc(sizeof(Lowered));
    check_declared_types(ast);
    int nprog = 0;
    for (int i = 0; i < ast->ndecls; i++)
        nprog += ast->decls[i]->kind == D_PROGRAM;
    out->programs = ir_alloc(sizeof(LoweredProgram) * (size_t)(nprog ? nprog : 1));
    for (int i = 0; i < ast->ndecls; i++) {
        Decl *d = ast->decls[i];
        if (d->kind == D_TRAIN) {
            int before = diag_nerrors;
            check_train(d);
            if (++out->ntrain > 1)
                diag_error(d->loc, "a file holds one train block; this is the second");
            else if (diag_nerrors == before) {
                jmp_buf here, *outer = diag_catch;
                diag_catch = &here;
                if (!setjmp(here))
                    out->train = lower_train(d);
                diag_catch = outer;
            }
            continue;
        }
        if (d->kind == D_DEF && d->exported) {
            if (d->loc.file != ast->file) /* an imported file's exports are that file's C functions */
                continue;
            if (!out->exports)
                out->exports = ir_alloc(sizeof(Graph *) * (size_t)ast->ndecls);
            jmp_buf here, *outer = diag_catch;
            diag_catch = &here;
            if (!setjmp(here))
                out->exports[out->nexports++] = lower_export(d);
            diag_catch = outer;
            continue;
        }
        if (d->kind != D_PROGRAM)
            continue;
        for (int k = 0; k < out->nprograms; k++)
            if (!strcmp(out->programs[k].name, d->name))
                diag_error(d->loc, "program '%s' is defined twice", d->name);
        begin_graph(d->name);
        stage_begin(d->name);
        exec_block(d->body, d->nbody);
        LoweredProgram *p = &out->programs[out->nprograms++];
        p->name = d->name;
        stage_end(p);
        L.prog_name = NULL;
    }
    out->options = L.options;
    out->noptions = L.noptions;
    out->has_options = L.has_options;
    /* models that nothing instantiated are still checked, with a batch of 1 */
    for (int i = 0; i < ast->ndecls; i++)
        if (ast->decls[i]->kind == D_MODEL && !ast->decls[i]->used)
            check_model_recover(ast->decls[i], 1, ast->decls[i]->loc,
                                "checked with a batch of 1 (no program calls it)");
    return out;
}
