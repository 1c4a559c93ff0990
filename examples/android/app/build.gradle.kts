// App module using the Kotlin wrapper edgeq generates. Generate it first (from the repository root):
//   edgeq convert kws.keras --target android-gpu --calib calib.npz -o examples/android/app/edgeq
// (or: edgeq export-android kws.tflite -t android-gpu -o examples/android/app/edgeq; android-cpu,
// android-npu-qualcomm and android-npu-mediatek give the same LiteRT 2.x CompiledModel class)
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "com.example.edgeqdemo"
    compileSdk = 34

    defaultConfig {
        applicationId = "com.example.edgeqdemo"
        minSdk = 24             // LiteRT 2.x Kotlin AAR: minSdkVersion 23 (litert/kotlin/src/main/AndroidManifest.xml)
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
    // LiteRT 2.x: CompiledModel with the CPU (XNNPACK), GPU (built in for Kotlin) and NPU dispatch. The generated
    // README.md lists exactly what the target needs; a `--litert 1` / android-nnapi bundle needs
    // com.google.ai.edge.litert:litert:1.4.0 (+ litert-gpu, litert-gpu-api for the GPU delegate) instead.
    implementation("com.google.ai.edge.litert:litert:2.2.0")
    implementation("androidx.appcompat:appcompat:1.7.0")
}
