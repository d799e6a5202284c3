/* umt5.c — being written: builds nothing yet, so the stage is reported as not modelled. */
#include "../model_internal.h"

wm_status wm_build_umt5(wm_builder *b, const wm_model_config *cfg)
{
    (void)cfg;
    return b->status;
}

