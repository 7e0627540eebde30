// SPDX-License-Identifier: GPL-3.0-or-later
// Which model the app opens, and which adapter goes with a model.
#pragma once
#include <QString>

namespace psa::ui {

/// The bundled demo model folder (resource_dir()/models/demo), whether or not it holds weights.
QString demoModelDir();
/// True when `folder` is a diffusers folder with UNet weights (the demo model's configs are
/// committed before its weights are trained).
bool folderHasWeights(const QString& folder);
/// The model to open at start: the one named on the command line, else the demo model when it
/// holds weights, else the last one used when it still exists; empty when there is none.
QString startupModel(const QString& commandLine, const QString& lastUsed);
/// The prompt a model folder suggests to try it with: the "_psa_example_prompt" string of its
/// model_index.json (diffusers ignores keys that start with "_"); empty when it has none. The demo
/// model names a prompt from its world's vocabulary, which an arbitrary default would miss.
QString examplePrompt(const QString& modelPath);
/// adapter.safetensors inside a model folder, or next to a single-file model; empty when absent.
QString adapterBesideModel(const QString& modelPath);

} // namespace psa::ui
