package com.example.edgeqdemo

import android.os.Bundle
import android.os.SystemClock
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import com.example.edgeq.KwsModel
import kotlin.concurrent.thread

/**
 * Runs the edgeq-generated [KwsModel] (LiteRT 2.x CompiledModel wrapper) once on a background thread and shows
 * the top class, the latency and the accelerator the model runs on (the profile's, or the CPU after a fallback).
 * Replace the random input with your features (same scaling as the training data: the wrapper only applies
 * the model's quantization, not your preprocessing).
 */
class MainActivity : AppCompatActivity() {

    private var model: KwsModel? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val text = TextView(this).apply { textSize = 18f; setPadding(32, 32, 32, 32) }
        setContentView(text)
        text.text = "loading model..."

        thread(name = "inference") {
            val m = KwsModel(applicationContext, numThreads = 4).also { model = it }
            val input = FloatArray(KwsModel.INPUT_SIZE) { Math.random().toFloat() }
            m.run(input)  // warm-up: the first run finishes the accelerator's setup
            val t0 = SystemClock.elapsedRealtimeNanos()
            val scores = m.run(input)
            val ms = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
            var best = 0
            for (i in scores.indices) if (scores[i] > scores[best]) best = i
            val where = if (m.fallbackReason.isEmpty()) "${m.activeAccelerator}"
                else "${m.activeAccelerator} (${m.fallbackReason})"
            runOnUiThread {
                text.text = "class $best (score %.3f)\n%.2f ms per inference on %s".format(scores[best], ms, where)
            }
        }
    }

    override fun onDestroy() {
        model?.close()
        super.onDestroy()
    }
}
