/* dtype.c: sizes and PyTorch names of the runtime's element types. */
#include "tgrt.h"

size_t tg_dtype_size(TgDType dt) {
    switch (dt) {
    case TG_F32: return 4;
    case TG_F64: return 8;
    case TG_I32: return 4;
    case TG_I64: return 8;
    case TG_BOOL: return 1;
    case TG_U8: return 1;
    }
    return 0;
}

const char *tg_dtype_torch_name(TgDType dt) {
    switch (dt) {
    case TG_F32: return "torch.float32";
    case TG_F64: return "torch.float64";
    case TG_I32: return "torch.int32";
    case TG_I64: return "torch.int64";
    case TG_BOOL: return "torch.bool";
    case TG_U8: return "torch.uint8";
    }
    return "?";
}
