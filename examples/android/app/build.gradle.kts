// App module using the Kotlin wrapper edgeq generates. Generate it first (from the repository root):
//   edgeq convert kws.keras --target android-nnapi --calib calib.npz -o examples/android/app/edgeq
// (or: edgeq export-android kws.tflite -t android-nnapi -o examples/android/app/edgeq --package com.example.edgeqdemo)
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "com.example.edgeqdemo"
    compileSdk = 34

    defaultConfig {
        applicationId = "com.example.edgeqdemo"
        minSdk = 24
        targetSdk = 34
        versionCode = 1
        versionName = "1.0"
        ndk { abiFilters += listOf("arm64-v8a") }
    }

    // edgeq writes an app-module layout: assets/<model>.tflite and kotlin/<package>/<Class>.kt.
    sourceSets {
        getByName("main") {
            assets.srcDirs("edgeq/android/src/main/assets")
            java.srcDirs("edgeq/android/src/main/kotlin")
        }
    }

    // The wrapper memory-maps the model straight from the APK: it must be stored uncompressed.
    androidResources { noCompress += "tflite" }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

dependencies {
    // LiteRT (formerly TensorFlow Lite) with the org.tensorflow.lite Interpreter API; the generated README.md
    // lists exactly what the chosen target needs (android-gpu adds litert-gpu and litert-gpu-api).
    implementation("com.google.ai.edge.litert:litert:1.4.0")
    implementation("com.google.ai.edge.litert:litert-gpu:1.4.0")
    implementation("com.google.ai.edge.litert:litert-gpu-api:1.4.0")
    implementation("androidx.appcompat:appcompat:1.7.0")
}
