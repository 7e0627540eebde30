// SPDX-License-Identifier: GPL-3.0-or-later
// Stub translation unit of psa_torch_pch: the target exists to own core/pch.h's precompiled form.
#include "pch.h"
