// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/model_paths.h"

#include "profiles/categories.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>

namespace psa::ui {

QString demoModelDir()
{
    return QString::fromStdString((psa::resource_dir() / "models" / "demo").string());
}

bool folderHasWeights(const QString& folder)
{
    const QDir unet(QDir(folder).filePath(QStringLiteral("unet")));
    return QFileInfo::exists(QDir(folder).filePath(QStringLiteral("model_index.json"))) &&
           !unet.entryList({QStringLiteral("*.safetensors")}, QDir::Files).isEmpty();
}

QString startupModel(const QString& commandLine, const QString& lastUsed)
{
    if (!commandLine.isEmpty())
        return commandLine; // an explicit choice; a bad path is reported, not silently replaced
    if (folderHasWeights(demoModelDir()))
        return demoModelDir();
    if (!lastUsed.isEmpty() && QFileInfo::exists(lastUsed))
        return lastUsed;
    return {};
}

QString examplePrompt(const QString& modelPath)
{
    QFile file(QDir(modelPath).filePath(QStringLiteral("model_index.json")));
    if (!file.open(QIODevice::ReadOnly))
        return {};
    const auto doc = QJsonDocument::fromJson(file.readAll());
    return doc.object().value(QStringLiteral("_psa_example_prompt")).toString().trimmed();
}

QString adapterBesideModel(const QString& modelPath)
{
    const QFileInfo info(modelPath);
    const QDir dir = info.isDir() ? QDir(info.absoluteFilePath()) : info.absoluteDir();
    const QString path = dir.filePath(QStringLiteral("adapter.safetensors"));
    return QFileInfo(path).isFile() ? path : QString();
}

} // namespace psa::ui
