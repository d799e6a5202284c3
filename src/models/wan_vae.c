/* wan_vae.c — being written: builds nothing yet, so the stage is reported as not modelled. */
#include "../model_internal.h"

wm_status wm_build_vae_encode(wm_builder *b, const wm_model_config *cfg)
{
    (void)cfg;
    return b->status;
}

wm_status wm_build_vae_decode(wm_builder *b, const wm_model_config *cfg)
{
    (void)cfg;
    return b->status;
}

